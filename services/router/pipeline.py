"""From a `case.received` record to a `case.routed` event: plain functions, no Kafka."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from pydantic import ValidationError

from services.common.envelope import Envelope, deterministic_id, wrap
from services.common.errors import describe_validation_error
from services.common.schemas import Decision, ReceivedCase, RoutedCase

SOURCE = "xinfang/router"


@dataclass(frozen=True)
class Malformed:
    reason: str
    case_id: str = "unknown"


def parse_received(value: bytes) -> Envelope[ReceivedCase] | Malformed:
    try:
        envelope = Envelope[ReceivedCase].model_validate_json(value)
    except ValidationError as error:
        return Malformed(reason=describe_validation_error(error))
    if envelope.type != "case.received":
        return Malformed(reason=f"type: expected 'case.received', got {envelope.type!r}", case_id=envelope.caseid)
    return envelope


def routed_event(received: Envelope[ReceivedCase], decision: Decision, at: datetime) -> Envelope[RoutedCase]:
    case = received.data
    body = RoutedCase(
        case_id=case.case_id,
        received_event_id=received.id,
        routed_at=at,
        received_at=case.received_at,
        channel=case.channel,
        people_count=case.people_count,
        category=case.category,
        region=case.location.region,
        assignment=case.assignment,
        decision=decision,
    )
    # Derived from the input event only: a redelivered case yields the same event id, so the tracker
    # applies it once even if the rules were reloaded in between.
    return wrap(
        body,
        type="case.routed",
        source=SOURCE,
        case_id=case.case_id,
        event_id=deterministic_id("case.routed", received.id),
        time=at,
    )
