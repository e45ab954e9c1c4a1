"""Event bodies shared by producers and consumers (docs/domain.md §5.1–4.5).

Nothing here may carry personal data: the models forbid extra fields, so an identity number,
name, phone or address cannot ride along by accident.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Literal

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints, ValidationInfo

# When something happened, as every event tells it: not before the system's era, not in the future beyond
# the clock drift of another system, and expressible in UTC (9999-12-31T23:59:59-12:00 is not: converting
# it, as PostgreSQL and every comparison with another zone do, overflows).
EARLIEST_EVENT_TIME = datetime(1990, 1, 1, tzinfo=UTC)
EVENT_TIME_SKEW = timedelta(hours=1)


# The validation context of tools that judge cases a person wrote rather than events that happened
# (`xf route`, `xf rules test|explain|diff`): a rule test may well be set in next year's Spring Festival.
ANY_TIME: dict[str, bool] = {"future_allowed": True}


def check_event_time(value: datetime, info: ValidationInfo) -> datetime:
    try:
        instant = value.astimezone(UTC)
    except OverflowError:
        raise ValueError("a time that cannot be expressed in UTC") from None
    if instant < EARLIEST_EVENT_TIME:
        raise ValueError(f"a time before {EARLIEST_EVENT_TIME:%Y-%m-%d}")
    future_allowed = bool(info.context and info.context.get("future_allowed"))
    if not future_allowed and instant > datetime.now(UTC) + EVENT_TIME_SKEW:
        raise ValueError(f"a time more than {EVENT_TIME_SKEW} in the future")
    return value


EventTime = Annotated[AwareDatetime, AfterValidator(check_event_time)]
UnitId = Annotated[str, StringConstraints(pattern=r"^(\d{6}|\d{9}|\d{12}):[a-z_]+$")]
RegionCode = Annotated[str, StringConstraints(pattern=r"^(\d{6}|\d{9}|\d{12})$")]
CountyCode = Annotated[str, StringConstraints(pattern=r"^\d{6}$")]
CategoryCode = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z_]*$", max_length=64)]

Channel = Literal["letter", "visit", "online", "phone", "email", "mailbox", "referral", "assignment"]
CHANNELS: tuple[str, ...] = Channel.__args__  # type: ignore[attr-defined]
Level = Literal["village", "town", "county", "city", "province", "national"]
Litigation = Literal["none", "pending", "judged", "enforcement", "arbitration", "reconsideration"]
Disposition = Literal["handle", "forward", "assign", "divert_legal", "reject_concluded", "merge", "redirect"]
Urgency = Literal["normal", "urgent", "critical"]
Flag = Literal[
    "first_time",
    "repeat",
    "skip_level",
    "collective",
    "litigation",
    "cross_region",
    "cross_department",
    "separation",
    "sensitive_period",
    "backlog",
    "superior_assigned",
]
FLAGS: tuple[str, ...] = Flag.__args__  # type: ignore[attr-defined]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Location(Strict):
    region: RegionCode


class Residence(Strict):
    """The county of the petitioner's household registration or habitual residence (人户分离), never an address."""

    region: CountyCode | None = None


class History(Strict):
    prior_cases: int = Field(default=0, ge=0)
    open_case_id: str | None = None
    concluded: bool = False
    open_case_overdue: bool = False  # 积案: the open case is past its handling deadline (the tracker knows)


class Assignment(Strict):
    from_unit: UnitId
    due_days: int = Field(ge=1, le=365)
    assigned_at: EventTime | None = None  # the report clock starts here when given, else at reception


class ReceivedCase(Strict):
    """`case.received` data: what the router and the tracker learn of a case."""

    case_id: str = Field(min_length=1, max_length=64)
    received_at: EventTime
    channel: Channel
    received_by: UnitId
    category: CategoryCode
    location: Location
    petitioner_key: str = Field(min_length=8, max_length=128)
    people_count: int = Field(default=1, ge=1, le=100_000)
    target_unit: UnitId | None = None
    litigation: Litigation = "none"
    history: History = History()
    assignment: Assignment | None = None
    residence: Residence = Residence()
    new_facts: bool = False  # new facts or reasons about a concluded matter (§4.5b)
    summary: str = Field(default="", max_length=2000)


class Decision(Strict):
    """`case.routed` data `decision` (docs/domain.md §5.2)."""

    disposition: Disposition
    handling_unit: UnitId | None
    handling_level: Level | None
    co_units: list[UnitId] = []
    lead_leader: str | None = None
    urgency: Urgency = "normal"
    report_within_hours: int | None = None
    flags: list[Flag] = []
    deadline_policy: str
    trace: list[str]
    ruleset_version: str


class RoutedCase(Strict):
    """`case.routed` data."""

    case_id: str = Field(min_length=1, max_length=64)
    received_event_id: str
    routed_at: EventTime
    # Carried so the tracker can start clocks without a second lookup.
    received_at: EventTime
    channel: Channel
    people_count: int = Field(ge=1)
    category: CategoryCode
    region: RegionCode
    assignment: Assignment | None = None
    decision: Decision


class DeadLetter(Strict):
    """`case.deadletter` data: what could not be processed, where from, and why."""

    topic: str
    partition: int | None = None
    offset: int | None = None
    consumer: str
    reason: str
    # The original bytes, decoded as UTF-8 with replacement; cut to a bounded size.
    payload: str = Field(max_length=65_536)


PetitionStatus = Literal["open", "merged", "closed", "concluded"]
PETITION_STATUSES: tuple[str, ...] = PetitionStatus.__args__  # type: ignore[attr-defined]
StatusName = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z_.]*$", max_length=64)]


class StatusCause(Strict):
    """The event whose application moved the case: received, routed, or a lifecycle event type."""

    event_id: str = Field(min_length=1, max_length=200)
    type: StatusName
    at: AwareDatetime


class DueClock(Strict):
    """A running stage clock and when it is due (docs/domain.md §8)."""

    stage: StatusName
    due_date: date
    due_at: AwareDatetime


class StatusRouting(Strict):
    """The routing decision the tracker applied (on the status a `case.routed` caused)."""

    received_event_id: str = Field(min_length=1, max_length=200)
    routed_at: AwareDatetime
    decision: Decision


class CaseStatusBody(Strict):
    """`case.status` data: where a case stands after the tracker applied one event to it.

    The tracker is the only writer of a case's stage; this is how everyone else learns it. `version`
    counts the events applied to the case (1 for its receipt), so a consumer keeps the highest it saw
    and ignores older or repeated ones.
    """

    case_id: str = Field(min_length=1, max_length=64)
    version: int = Field(ge=1, le=1_000_000)
    stage: StatusName
    status: PetitionStatus
    closed: bool
    handling_unit: UnitId | None = None
    co_units: list[UnitId] = Field(default=[], max_length=50)
    due: list[DueClock] = Field(default=[], max_length=20)
    cause: StatusCause
    routing: StatusRouting | None = None
