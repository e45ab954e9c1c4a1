"""Forged events (issue 10, finding 2), as a table: what is sent, by which principal, signed how, and what
must come of it. Each forgery is aimed at real cases of the run (routed, for handling, still open).

- `withdrawn` (actor `intruder`) and `rejected` (actor `000000:nobody`) on case.lifecycle from a producer
  with no credentials: refused at the broker.
- `withdrawn` and `rejected` from a unit partner scoped to another region, signed with its own key:
  dead-lettered (not scoped to the case).
- a second `case.routed` sending the case to another unit, from a unit partner: refused at the broker
  (only services write case.routed); neither the tracker nor intake may change.
- `case.submitted` with source `intruder/anything` from the upstream partner: dead-lettered (unknown source).
- `case.submitted` under the campaign's own upstream source, with no credentials: refused at the broker.

In every case nothing changes. "Applied" is read from the state afterwards (services.faults.tally): the
tracker's `applied_events` with outcome `applied`, intake's stage of the case moved to the forged step at
the forged instant, intake's routing of the case carrying the forged event id, a case in intake under the
forged idempotency key.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from services.common.topics import CASE_LIFECYCLE, CASE_ROUTED, CASE_SUBMITTED
from services.faults.send import Outgoing

Sender = Literal["nobody", "unit", "unscoped_unit", "upstream"]
# Units a partner "scoped elsewhere" speaks for: another league's bureau than the case's (the campaign's
# unscoped partner is scoped to 152900, and its targets are outside it).
ELSEWHERE = ("152900:hrss", "150100:hrss")
UNSCOPED_PARTNER = "faults-unscoped"


@dataclass(frozen=True)
class Target:
    """A real case of the run, as the tracker holds it."""

    case_id: str
    handling_unit: str
    received_at: datetime
    channel: str
    people_count: int
    category: str
    region: str


@dataclass(frozen=True)
class Kind:
    name: str
    topic: str
    what: str
    sender: Sender
    signature: str
    expected: str


KINDS: tuple[Kind, ...] = (
    Kind(
        "withdrawn_no_credentials",
        CASE_LIFECYCLE.name,
        "withdrawn, actor intruder",
        "nobody",
        "none",
        "refused at the broker",
    ),
    Kind(
        "rejected_no_credentials",
        CASE_LIFECYCLE.name,
        "rejected, actor 000000:nobody",
        "nobody",
        "none",
        "refused at the broker",
    ),
    Kind(
        "withdrawn_unscoped_partner",
        CASE_LIFECYCLE.name,
        "withdrawn by another region's unit",
        "unscoped_unit",
        f"{UNSCOPED_PARTNER}'s",
        "dead-lettered: partner not scoped to the case",
    ),
    Kind(
        "rejected_unscoped_partner",
        CASE_LIFECYCLE.name,
        "rejected by another region's unit",
        "unscoped_unit",
        f"{UNSCOPED_PARTNER}'s",
        "dead-lettered: partner not scoped to the case",
    ),
    Kind(
        "second_routed",
        CASE_ROUTED.name,
        "a second case.routed to another unit",
        "unit",
        "none",
        "refused at the broker (only services write case.routed)",
    ),
    Kind(
        "submitted_unknown_source",
        CASE_SUBMITTED.name,
        "case.submitted, source intruder/anything",
        "upstream",
        "none",
        "dead-lettered: unknown source",
    ),
    Kind(
        "submitted_no_credentials",
        CASE_SUBMITTED.name,
        "case.submitted as the campaign's upstream",
        "nobody",
        "none",
        "refused at the broker",
    ),
)


@dataclass(frozen=True)
class Forged:
    kind: Kind
    event_id: str  # the lifecycle event id, the routed envelope id, the submitted envelope id
    case_id: str | None  # the real case it is aimed at (None for a forged submission)
    at: datetime | None  # the forged lifecycle step's instant
    record: Outgoing


def elsewhere(unit: str) -> str:
    return next(u for u in ELSEWHERE if u[:4] != unit[:4])


def signed_by_unscoped(kind: Kind) -> bool:
    return kind.sender == "unscoped_unit"


def _lifecycle(kind: Kind, target: Target, now: datetime) -> Forged:
    event_id = f"forged-{uuid.uuid4()}"
    if kind.sender == "nobody":
        actor = "intruder" if kind.name.startswith("withdrawn") else "000000:nobody"
    else:
        actor = elsewhere(target.handling_unit)
    body: dict[str, Any] = {"event_id": event_id, "case_id": target.case_id, "at": now.isoformat(), "actor": actor}
    body["type"] = "withdrawn" if kind.name.startswith("withdrawn") else "rejected"
    if body["type"] == "rejected":
        body["reason"] = "forged"
    envelope = _envelope(event_id, "case.lifecycle", "intruder/lifecycle", target.case_id, now, body)
    return Forged(kind, event_id, target.case_id, now, Outgoing(kind.topic, envelope, target.case_id.encode()))


def _routed(kind: Kind, target: Target, now: datetime) -> Forged:
    event_id = f"forged-{uuid.uuid4()}"
    unit = elsewhere(target.handling_unit)
    body = {
        "case_id": target.case_id,
        "received_event_id": str(uuid.uuid4()),
        "routed_at": now.isoformat(),
        "received_at": target.received_at.isoformat(),
        "channel": target.channel,
        "people_count": target.people_count,
        "category": target.category,
        "region": target.region,
        "decision": {
            "disposition": "forward",
            "handling_unit": unit,
            "handling_level": "city",
            "deadline_policy": "standard",
            "trace": ["forged"],
            "ruleset_version": "sha256:forged",
        },
    }
    envelope = _envelope(event_id, "case.routed", "xinfang/router", target.case_id, now, body)
    return Forged(kind, event_id, target.case_id, now, Outgoing(kind.topic, envelope, target.case_id.encode()))


def _submitted(kind: Kind, now: datetime, own_source: str) -> Forged:
    event_id = f"forged-{uuid.uuid4()}"
    source = "intruder/anything" if kind.sender == "upstream" else own_source
    body = {
        "channel": "online",
        "received_by": "150627:petition",
        "category": "wage_arrears",
        "location": {"region": "150627107"},
        "petitioner": {"kind": "anonymous"},
        "people_count": 1,
        "litigation": "none",
        "summary": "伪造的信访事项。",
        "content": "伪造的信访事项。",
        "received_at": (now - timedelta(hours=1)).isoformat(),
    }
    envelope = _envelope(event_id, "case.submitted", source, "unassigned", now, body)
    return Forged(kind, event_id, None, None, Outgoing(kind.topic, envelope, event_id.encode()))


def _envelope(event_id: str, type_: str, source: str, case_id: str, now: datetime, data: dict[str, Any]) -> bytes:
    envelope = {
        "specversion": "1.0",
        "id": event_id,
        "type": type_,
        "source": source,
        "time": now.isoformat(),
        "caseid": case_id,
        "data": data,
    }
    return json.dumps(envelope, ensure_ascii=False).encode()


def forge(kind: Kind, target: Target | None, now: datetime, own_source: str) -> Forged:
    if kind.topic == CASE_SUBMITTED.name:
        return _submitted(kind, now, own_source)
    assert target is not None, f"{kind.name} needs a real case"
    return _routed(kind, target, now) if kind.topic == CASE_ROUTED.name else _lifecycle(kind, target, now)
