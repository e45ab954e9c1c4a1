"""From a `case.received` record to a `case.routed` event: plain functions, no Kafka."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime

from pydantic import ValidationError
from pydantic_core import to_json

from services.common.bounded import Refused, load_json
from services.common.envelope import EVENT_NAMESPACE, SCHEMA_VERSION, Envelope
from services.common.errors import describe_validation_error
from services.common.schemas import Assignment, Decision, ReceivedCase, RoutedCase
from services.router.received import ReceivedLike
from services.router.wire import read_fast

SOURCE = "xinfang/router"
ROUTED_TYPE = "case.routed"
RECEIVED = Envelope[ReceivedCase]
ROUTED = Envelope[RoutedCase]


@dataclass(frozen=True)
class Malformed:
    reason: str  # names the field
    kind: str  # bounded, for the dead-letter metric: not_json, invalid, wrong_type, or a `Refused` code
    case_id: str = "unknown"


def parse_received(value: bytes, latest: datetime | None = None) -> ReceivedLike | Malformed:
    """The received event, read by the fast structs (wire.py) or, when they refuse it, within the bounds of
    `services.common.bounded` by the pydantic models. `latest`: `wire.horizon()`, once per batch."""
    fast = read_fast(value, latest)
    if fast is not None:
        if fast.type != "case.received":
            return Malformed(f"type: expected 'case.received', got {fast.type!r}", "wrong_type", fast.caseid)
        return fast
    try:
        body = load_json(value)
    except Refused as refused:
        return Malformed(f"(body): {refused}", refused.code)
    try:
        envelope = RECEIVED.model_validate_json(value)
    except ValidationError as error:
        kind = "not_json" if any(item["type"] == "json_invalid" for item in error.errors()) else "invalid"
        return Malformed(describe_validation_error(error), kind, _case_id_of(body))
    if envelope.type != "case.received":
        return Malformed(f"type: expected 'case.received', got {envelope.type!r}", "wrong_type", envelope.caseid)
    return envelope


def _case_id_of(body: object) -> str:
    """The envelope's case id when the body has one (for the dead letter's key)."""
    case_id = body.get("caseid") if isinstance(body, dict) else None
    return case_id if isinstance(case_id, str) and 0 < len(case_id) <= 100 else "unknown"


def routed_id(received: ReceivedLike) -> str:
    """`deterministic_id("case.routed", received.id)`, computed without uuid.UUID (a hot path).

    Derived from the input event only: a redelivered case yields the same event id, so the tracker
    applies it once even if the rules were reloaded in between.
    """
    hexa = hashlib.sha1(_ROUTED_ID_PREFIX + received.id.encode()).hexdigest()
    # version 5 in the 13th digit; the RFC 4122 variant in the top two bits of the 17th
    return f"{hexa[:8]}-{hexa[8:12]}-5{hexa[13:16]}-{_VARIANT[hexa[16]]}{hexa[17:20]}-{hexa[20:32]}"


_VARIANT = {digit: "89ab"[int(digit, 16) & 3] for digit in "0123456789abcdef"}


_ROUTED_ID_PREFIX = EVENT_NAMESPACE.bytes + f"{ROUTED_TYPE}\x1f".encode()
_ENVELOPE_HEAD = b'{"specversion":"1.0","id":"'
_AFTER_ID = f'","type":"{ROUTED_TYPE}","source":"{SOURCE}","time":'.encode()
_AFTER_CASE_ID = f',"schemaversion":{SCHEMA_VERSION},"datacontenttype":"application/json","data":{{"case_id":'.encode()


def routed_json(received: ReceivedLike, decision_json: bytes, at_json: bytes) -> tuple[str, bytes]:
    """(event id, the routed event's JSON): byte for byte `routed_event(...).model_dump_json()`, 5x faster.

    The decision's JSON is serialised once per distinct decision by the caller; the case's fields
    were validated on the way in (channel, category, region and units cannot need escaping).
    """
    case = received.data
    event_id = routed_id(received)
    case_id = to_json(case.case_id)
    assigned = case.assignment
    assignment = (
        f'{{"from_unit":"{assigned.from_unit}","due_days":{assigned.due_days},"assigned_at":'.encode()
        + to_json(assigned.assigned_at)
        + b"}"
        if assigned
        else b"null"
    )
    value = b"".join(
        (
            _ENVELOPE_HEAD,
            event_id.encode(),
            _AFTER_ID,
            at_json,
            b',"caseid":',
            case_id,
            _AFTER_CASE_ID,
            case_id,
            b',"received_event_id":',
            to_json(received.id),
            b',"routed_at":',
            at_json,
            b',"received_at":',
            to_json(case.received_at),
            f',"channel":"{case.channel}","people_count":{case.people_count},"category":"{case.category}"'.encode(),
            f',"region":"{case.location.region}","assignment":'.encode(),
            assignment,
            b',"decision":',
            decision_json,
            b"}}",
        )
    )
    return event_id, value


def routed_event(received: ReceivedLike, decision: Decision, at: datetime) -> Envelope[RoutedCase]:
    """The routed event, built without validating again what was validated on the way in."""
    case = received.data
    body = RoutedCase.model_construct(
        case_id=case.case_id,
        received_event_id=received.id,
        routed_at=at,
        received_at=case.received_at,
        channel=case.channel,
        people_count=case.people_count,
        category=case.category,
        region=case.location.region,
        assignment=None
        if case.assignment is None
        else Assignment.model_validate(case.assignment, from_attributes=True),
        decision=decision,
    )
    return ROUTED.model_construct(
        id=routed_id(received),
        type=ROUTED_TYPE,
        source=SOURCE,
        time=at,
        caseid=case.case_id,
        data=body,
    )
