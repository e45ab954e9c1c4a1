"""`case.lifecycle` event bodies (docs/domain.md §5.3): one model per `type`, a discriminated union.

Every body has event_id (unique, for idempotency), case_id, type, at and actor (a unit id or an
operator role; never a person's name). `reported` is an addition to §4.5: the urgent report or the
assignment result report was made to the level above, which stops the urgent_report /
assignment_report clocks.
"""

from __future__ import annotations

from typing import Annotated, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, RootModel, TypeAdapter

from services.common.schemas import EventTime, UnitId

LIFECYCLE_TYPE = "case.lifecycle"  # the envelope type on the case.lifecycle topic
PauseReason = Literal["hearing", "awaiting_material", "other"]
ReportKind = Literal["urgent", "assignment"]


class _Lifecycle(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    event_id: str = Field(min_length=1, max_length=200)
    case_id: str = Field(min_length=1, max_length=64)
    at: EventTime
    actor: str = Field(min_length=1, max_length=200)


class Delivered(_Lifecycle):
    """The handling unit got the case."""

    type: Literal["delivered"] = "delivered"
    unit: UnitId | None = None


class Accepted(_Lifecycle):
    type: Literal["accepted"] = "accepted"


class Rejected(_Lifecycle):
    """不予受理."""

    type: Literal["rejected"] = "rejected"
    reason: str = Field(min_length=1, max_length=2000)


class Extended(_Lifecycle):
    type: Literal["extended"] = "extended"
    days: int = Field(ge=1, le=365)
    reason: str = Field(min_length=1, max_length=2000)
    approved_by: str = Field(min_length=1, max_length=200)


class Paused(_Lifecycle):
    type: Literal["paused"] = "paused"
    reason: PauseReason
    note: str = Field(default="", max_length=2000)


class Resumed(_Lifecycle):
    type: Literal["resumed"] = "resumed"


class Replied(_Lifecycle):
    """处理意见 delivered to the petitioner."""

    type: Literal["replied"] = "replied"


class ReviewRequested(_Lifecycle):
    type: Literal["review_requested"] = "review_requested"
    unit: UnitId | None = None  # the reviewing unit, if known


class Reviewed(_Lifecycle):
    type: Literal["reviewed"] = "reviewed"


class RereviewRequested(_Lifecycle):
    type: Literal["rereview_requested"] = "rereview_requested"
    unit: UnitId | None = None


class Rereviewed(_Lifecycle):
    type: Literal["rereviewed"] = "rereviewed"


class Concluded(_Lifecycle):
    type: Literal["concluded"] = "concluded"


class Reassigned(_Lifecycle):
    type: Literal["reassigned"] = "reassigned"
    unit: UnitId
    reason: str = Field(default="", max_length=2000)


class Withdrawn(_Lifecycle):
    type: Literal["withdrawn"] = "withdrawn"


class Feedback(_Lifecycle):
    type: Literal["feedback"] = "feedback"
    satisfied: bool


class Reported(_Lifecycle):
    type: Literal["reported"] = "reported"
    report: ReportKind
    to_unit: UnitId | None = None


LifecycleEvent = Annotated[
    Delivered
    | Accepted
    | Rejected
    | Extended
    | Paused
    | Resumed
    | Replied
    | ReviewRequested
    | Reviewed
    | RereviewRequested
    | Rereviewed
    | Concluded
    | Reassigned
    | Withdrawn
    | Feedback
    | Reported,
    Field(discriminator="type"),
]
LifecycleType = Literal[
    "delivered",
    "accepted",
    "rejected",
    "extended",
    "paused",
    "resumed",
    "replied",
    "review_requested",
    "reviewed",
    "rereview_requested",
    "rereviewed",
    "concluded",
    "reassigned",
    "withdrawn",
    "feedback",
    "reported",
]
LIFECYCLE_TYPES: tuple[str, ...] = get_args(LifecycleType)

LIFECYCLE_ADAPTER: TypeAdapter[LifecycleEvent] = TypeAdapter(LifecycleEvent)


def parse_lifecycle(data: object) -> LifecycleEvent:
    """Validate a JSON-decoded body (dict) into its typed event."""
    return LIFECYCLE_ADAPTER.validate_python(data)


class LifecycleBody(RootModel[LifecycleEvent]):
    """A lifecycle event as an envelope body: `Envelope[LifecycleBody]`, the event in `.root`."""

    model_config = ConfigDict(frozen=True)
