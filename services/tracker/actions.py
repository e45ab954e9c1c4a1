"""Units' actions recorded through the API, as the lifecycle events they become. Pure.

An action names what a unit did (accept, reply, ...). It becomes the same `case.lifecycle` event a
unit's own case system would publish, so both kinds of unit go through one path: the event is
checked against the case's current state here (the engine, without writing anything), published,
and applied by the consumer like any other.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, Any

from pydantic import AfterValidator, AwareDatetime, BaseModel, BeforeValidator, ConfigDict, Field

from services.common.field_checks import refuse_control, refuse_epoch
from services.common.lifecycle import LifecycleEvent, PauseReason, ReportKind, parse_lifecycle
from services.common.schemas import UnitId
from services.tracker import units
from services.tracker.engine import CaseRecord
from services.tracker.stages import UNIT_SIDE

# Free text of an action: it is stored and published, so no NUL nor other control characters.
Text = Annotated[str, AfterValidator(refuse_control)]
# How far in the future an action's `at` may lie (clock skew between a unit's machine and ours).
MAX_FUTURE = timedelta(minutes=5)


class Action(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    at: Annotated[AwareDatetime, BeforeValidator(refuse_epoch)] | None = Field(
        default=None, description="何时发生（默认现在）/ When it happened (default: now); with a UTC offset."
    )


class PlainAction(Action):
    """deliver, accept, resume, reply, review, rereview."""


class RejectAction(Action):
    reason: Text = Field(min_length=1, max_length=2000, description="不予受理的理由 / Why it is not accepted.")


class ExtendAction(Action):
    days: int = Field(ge=1, le=365, strict=True, description="延长天数 / Days to add (the policy bounds the total).")
    reason: Text = Field(min_length=1, max_length=2000, description="延期理由 / Why.")
    approved_by: Text = Field(min_length=1, max_length=200, description="批准单位或职务 / Approving unit or role.")


class PauseAction(Action):
    reason: PauseReason = Field(description="hearing 听证 / awaiting_material 补充材料 / other")
    note: Text = Field(default="", max_length=2000)


class RequestAction(Action):
    unit: UnitId | None = Field(
        default=None, description="复查/复核机关（默认上一级）/ The reviewing unit (default: one level up)."
    )


class ReportAction(Action):
    report: ReportKind = Field(description="urgent 重大紧急信访报告 / assignment 交办办结报告")
    to_unit: UnitId | None = None


@dataclass(frozen=True)
class ActionRoute:
    """One action of the API: `POST /v1/cases/{case_id}/<name>` with a `body`, recorded as `event_type`."""

    name: str
    body: type[Action]
    event_type: str
    summary: str

    @property
    def body_required(self) -> bool:
        """Whether the action needs a body at all (one without required fields may be sent empty)."""
        return any(field.is_required() for field in self.body.model_fields.values())


# The route table: adding an action is one row here (and its transition in the engine).
ROUTES: tuple[ActionRoute, ...] = (
    ActionRoute("deliver", PlainAction, "delivered", "签收（承办单位收到）/ Confirm receipt"),
    ActionRoute("accept", PlainAction, "accepted", "受理 / Accept"),
    ActionRoute("reject", RejectAction, "rejected", "不予受理 / Reject"),
    ActionRoute("extend", ExtendAction, "extended", "延期 / Extend the deadline"),
    ActionRoute("pause", PauseAction, "paused", "中止计时（听证、补充材料）/ Pause the clock"),
    ActionRoute("resume", PlainAction, "resumed", "恢复计时 / Resume the clock"),
    ActionRoute("reply", PlainAction, "replied", "出具处理意见 / Reply"),
    ActionRoute("review-request", RequestAction, "review_requested", "登记复查申请 / Register a review request"),
    ActionRoute("review", PlainAction, "reviewed", "出具复查意见 / Review opinion delivered"),
    ActionRoute("rereview-request", RequestAction, "rereview_requested", "登记复核申请 / Register a re-review request"),
    ActionRoute("rereview", PlainAction, "rereviewed", "出具复核意见 / Re-review opinion delivered"),
    ActionRoute("report", ReportAction, "reported", "报送（紧急报告、交办办结报告）/ Report to the level above"),
)
ACTIONS: tuple[str, ...] = tuple(route.name for route in ROUTES)
EVENT_TYPE: dict[str, str] = {route.name: route.event_type for route in ROUTES}
BODY_MODELS: dict[str, type[Action]] = {route.name: route.body for route in ROUTES}


class ActionTimeInvalid(ValueError):
    pass


def to_event(action: str, body: Action, *, case_id: str, event_id: str, actor: str, now: datetime) -> LifecycleEvent:
    at = body.at or now
    if at > now + MAX_FUTURE:
        raise ActionTimeInvalid("at: lies in the future")
    fields: dict[str, Any] = body.model_dump(exclude={"at"}, exclude_none=True)
    return parse_lifecycle(
        {"event_id": event_id, "case_id": case_id, "type": EVENT_TYPE[action], "at": at, "actor": actor, **fields}
    )


def acting_candidates(action: str, record: CaseRecord, body: Action) -> list[str | None]:
    """The units that may record `action` on this case, most specific first."""
    return _candidates(action, record, body.unit if isinstance(body, RequestAction) else None)


def _candidates(action: str, record: CaseRecord, requested: str | None) -> list[str | None]:
    row: Mapping[str, Any] = record.row
    handling = row.get("handling_unit") or row.get("received_by")
    reviewer = row.get("review_unit") or (units.supervisor(handling) if handling else None)
    rereviewer = row.get("rereview_unit") or (units.supervisor(reviewer) if reviewer else None)
    if action in ("extend", "pause", "resume"):
        running = [
            stored
            for stage, stored in record.clocks.items()
            if stage in UNIT_SIDE and stored.clock.completed_at is None
        ]
        latest = max(running, key=lambda stored: stored.clock.started_at, default=None)
        return [latest.unit if latest is not None else handling]
    if action == "review-request":
        return [requested or reviewer, handling]
    if action == "review":
        return [reviewer]
    if action == "rereview-request":
        return [requested or rereviewer, reviewer]
    if action == "rereview":
        return [rereviewer]
    if action == "conclude":
        return [handling, reviewer, rereviewer]
    if action == "reassign":
        # Never the handling unit itself (a unit does not hand its own case off): the level above it,
        # or the unit that routed the case to it.
        return [units.supervisor(handling) if handling else None, row.get("received_by")]
    return [handling]


# Lifecycle types a unit's system may publish that the API does not offer as actions.
_OTHER_TYPES = {"concluded": "conclude", "reassigned": "reassign", "withdrawn": "withdraw", "feedback": "feedback"}
ACTION_OF_TYPE: dict[str, str] = {**{t: a for a, t in EVENT_TYPE.items()}, **_OTHER_TYPES}
# 督办: what the units above the acting one may also record on its cases (docs/domain.md §1, §5): send the case
# to another unit, grant more time, declare it concluded.
SUPERVISION = frozenset({"reassigned", "extended", "concluded"})


def units_for_event(event: LifecycleEvent, record: CaseRecord) -> list[str]:
    """The units on whose behalf a unit's system may publish `event` for this case as it now stands:
    those that must act on it, and for supervision, every unit above them."""
    # A unit the event itself names as the reviewer gives no authority: anyone could name themselves.
    acting = [u for u in _candidates(ACTION_OF_TYPE[event.type], record, None) if u]
    if event.type not in SUPERVISION:
        return acting
    found: list[str] = []
    for unit in acting:
        found.extend(u for u in units.chain(unit) if u not in found)
    return found
