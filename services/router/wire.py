"""The router's fast reading of `case.received`: msgspec structs that mirror the pydantic schema.

Validating an envelope with pydantic was the largest single cost per case (≈10 µs of ≈60). These
structs read the same JSON in a third of that and are at least as strict: ASCII digits only, `\\Z`
anchors, JSON types only (no "5" for 5), datetimes only in the RFC 3339 form that both libraries
read to the same instant. Anything they refuse is read again by the pydantic models
(services/router/pipeline.py), which accept it or name the field in the dead letter, so the router
accepts exactly what `Envelope[ReceivedCase]` accepts. tests/unit/router/test_router_wire.py holds
the two schemas to that: the same fields and defaults, and a corpus of edge cases where every value
these structs accept is one pydantic accepts, with equal values. The structs hold only strings,
numbers, datetimes and other such structs, so they cannot form a reference cycle: the garbage
collector need not track them (gc=False), which matters with thousands of cases in flight.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Literal

import msgspec

from services.common.bounded import Refused, check_typed
from services.common.schemas import EARLIEST_EVENT_TIME, EVENT_TIME_SKEW, Channel, Litigation

# The patterns of the pydantic schema, stricter (ASCII digits, `\Z`), checked by one regular
# expression over the fields joined by NUL (which none of them can contain) instead of one each.
_REGION = r"(?:[0-9]{6}|[0-9]{9}|[0-9]{12})"
_UNIT = rf"{_REGION}:[a-z_]+"
_CATEGORY = r"[a-z][a-z_]*"
# What datetime.fromisoformat and pydantic read to the same instant (at most microseconds).
_TIMESTAMP = r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]{1,6})?(?:Z|[+-][0-9]{2}:[0-9]{2})"
# time, received_at, received_by, category, region, then target_unit, from_unit, assigned_at and the
# residence county (SOH when absent)
_OPTIONAL_UNIT = rf"(?:\x00{_UNIT}|\x01)"
_OPTIONAL_TIMESTAMP = rf"(?:\x00{_TIMESTAMP}|\x01)"
_OPTIONAL_COUNTY = r"(?:\x00[0-9]{6}|\x01)"
_FIELDS = re.compile(
    rf"{_TIMESTAMP}\x00{_TIMESTAMP}\x00{_UNIT}\x00{_CATEGORY}\x00{_REGION}{_OPTIONAL_UNIT}{_OPTIONAL_UNIT}"
    rf"{_OPTIONAL_TIMESTAMP}{_OPTIONAL_COUNTY}\Z"
)
UnitId = str  # checked by _FIELDS
CategoryCode = Annotated[str, msgspec.Meta(max_length=64)]  # and by _FIELDS
Timestamp = str  # checked by _FIELDS and datetime.fromisoformat


class Location(msgspec.Struct, forbid_unknown_fields=True, frozen=True, gc=False):
    region: str  # checked by _FIELDS


class Residence(msgspec.Struct, forbid_unknown_fields=True, frozen=True, gc=False):
    region: str | None = None  # checked by _FIELDS


class History(msgspec.Struct, forbid_unknown_fields=True, frozen=True, gc=False):
    prior_cases: Annotated[int, msgspec.Meta(ge=0)] = 0
    open_case_id: str | None = None
    concluded: bool = False
    open_case_overdue: bool = False


class Assignment(msgspec.Struct, forbid_unknown_fields=True, frozen=True, gc=False):
    from_unit: UnitId
    due_days: Annotated[int, msgspec.Meta(ge=1, le=365)]
    assigned_at: Timestamp | None = None  # checked by _FIELDS and datetime.fromisoformat


class AssignmentView(msgspec.Struct, frozen=True, gc=False):
    from_unit: str
    due_days: int
    assigned_at: datetime | None


class WireCase(msgspec.Struct, forbid_unknown_fields=True, frozen=True, gc=False):
    case_id: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    received_at_text: Timestamp = msgspec.field(name="received_at")
    channel: Channel
    received_by: UnitId
    category: CategoryCode
    location: Location
    petitioner_key: Annotated[str, msgspec.Meta(min_length=8, max_length=128)]
    people_count: Annotated[int, msgspec.Meta(ge=1, le=100_000)] = 1
    target_unit: UnitId | None = None
    litigation: Litigation = "none"
    history: History = msgspec.field(default_factory=History)
    assignment: Assignment | None = None
    residence: Residence = msgspec.field(default_factory=Residence)
    new_facts: bool = False
    summary: Annotated[str, msgspec.Meta(max_length=2000)] = ""


class WireEnvelope(msgspec.Struct, forbid_unknown_fields=True, frozen=True, gc=False):
    id: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    type: Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
    source: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    time: Timestamp
    caseid: Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
    data: WireCase
    specversion: Literal["1.0"] = "1.0"
    schemaversion: int = 1
    datacontenttype: Literal["application/json"] = "application/json"


class ReceivedView(msgspec.Struct, frozen=True, gc=False):
    """A received case as the router reads it: the attributes of `ReceivedCase` it uses, and the
    instant it was received as a datetime."""

    case_id: str
    received_at: datetime
    channel: Channel
    received_by: str
    category: str
    location: Location
    people_count: int
    target_unit: str | None
    litigation: Litigation
    history: History
    assignment: AssignmentView | None
    residence: Residence
    new_facts: bool


class EnvelopeView(msgspec.Struct, frozen=True, gc=False):
    id: str
    type: str
    caseid: str
    data: ReceivedView


_decode = msgspec.json.Decoder(WireEnvelope).decode


def horizon() -> datetime:
    """The latest event time accepted now (a batch computes it once for all its records)."""
    return datetime.now(UTC) + EVENT_TIME_SKEW


def read_fast(value: bytes, latest: datetime | None = None) -> EnvelopeView | None:
    """The envelope, or None when these structs or the bounds refuse it (then `services.common.bounded`
    and pydantic decide and explain). The structs bound nesting, numbers and UTF-8 themselves."""
    try:
        check_typed(value)
        wire = _decode(value)
    except (Refused, msgspec.ValidationError, msgspec.DecodeError, UnicodeDecodeError):
        return None
    data = wire.data
    assignment = data.assignment
    target = "\x01" if data.target_unit is None else "\x00" + data.target_unit
    from_unit = "\x01" if assignment is None else "\x00" + assignment.from_unit
    assigned_text = None if assignment is None else assignment.assigned_at
    assigned = "\x01" if assigned_text is None else "\x00" + assigned_text
    residence = "\x01" if data.residence.region is None else "\x00" + data.residence.region
    fields = "\x00".join((wire.time, data.received_at_text, data.received_by, data.category, data.location.region))
    if _FIELDS.match(fields + target + from_unit + assigned + residence) is None:
        return None
    try:
        received_at = datetime.fromisoformat(data.received_at_text)
        time = datetime.fromisoformat(wire.time)  # a real date and time, as pydantic demands
        assigned_at = None if assigned_text is None else datetime.fromisoformat(assigned_text)
    except ValueError:
        return None
    # The window of services.common.schemas.EventTime (its own check runs on the slow path and names it).
    latest = latest or horizon()
    try:
        if not (EARLIEST_EVENT_TIME <= received_at <= latest and EARLIEST_EVENT_TIME <= time <= latest):
            return None
        if assigned_at is not None and not EARLIEST_EVENT_TIME <= assigned_at <= latest:
            return None
    except OverflowError:
        return None
    handover = None if assignment is None else AssignmentView(assignment.from_unit, assignment.due_days, assigned_at)
    case = ReceivedView(
        data.case_id,
        received_at,
        data.channel,
        data.received_by,
        data.category,
        data.location,
        data.people_count,
        data.target_unit,
        data.litigation,
        data.history,
        handover,
        data.residence,
        data.new_facts,
    )
    return EnvelopeView(wire.id, wire.type, wire.caseid, case)
