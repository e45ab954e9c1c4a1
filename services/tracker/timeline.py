"""Evaluate a case's timeline at an instant: which stage clocks run, their due dates and statuses.

Used by the tracker service and by `xf deadlines`. Only events at or before `at` count: the result
is the case as known at that instant.

Stage starts and ends:
- route: starts at received; ends at the first `routed` or `delivered` (or, if neither was
  recorded, at the first accepted/rejected/reassigned, which imply it). A `routed` event may carry
  the `disposition` (the tracker service always gives it): `handle` means routing delivered the case
  (accept starts then); merge, divert_legal, redirect and reject_concluded end every clock there.
- accept: starts at `delivered`; if the unit accepted or rejected without a recorded delivery, it is
  taken to have started when routing ended (or at received). `reassigned` restarts it for the new
  unit at the reassignment and drops the old unit's handle clock. Ends at accepted or rejected.
- handle: accepted → replied (extensions and pauses apply here).
- review_window: replied → review_requested; rereview_window: reviewed → rereview_requested.
  These are the petitioner's windows: a window with no request by its due ends at its due as `met`.
- review: review_requested → reviewed; rereview: rereview_requested → rereviewed.
- assignment_report: received (when the case carries `assignment`; limit assignment.due_days) → the
  first replied or `reported` with report: assignment.
- urgent_report: received (when report_within_hours is set on the timeline, its `decision`, or a
  `routed` event) → the first `reported` with report: urgent. Counted in hours.
- concluded and withdrawn end every running clock. paused/resumed/extended act on the running
  unit-side stage (accept, handle, review or rereview).

STATUS_RULES (at the instant `at`):
- pending: the clock starts after `at`.
- met: ended at or before its due_at; late: ended after its due_at.
- paused: running and inside an open pause.
- overdue: running, not paused, `at` after due_at.
- due_soon: running, not paused, within the warning lead: from the start of the last `warning`
  counted days (calendar or working days as the stage counts; warning 3 → the last three days,
  due day included), or for hours stages from due_at minus `warning` hours.
- open: running and none of the above.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Literal
from zoneinfo import ZoneInfo

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from services.common.lifecycle import LifecycleType
from services.common.schemas import Channel, Disposition
from services.tracker.clock import Clock, ClockError, Status
from services.tracker.policy import DeadlinePolicies, DeadlinePolicy
from services.tracker.stages import (
    ASSIGNMENT_OPENS,
    DELIVERING_DISPOSITION,
    ENDING_DISPOSITIONS,
    ENDING_EVENTS,
    EVENTS,
    OPENED_BY,
    RECEIPT_OPENS,
    REPORT_CLOCK,
    REVIEW_CLOCKS,
    ROUTING_CLOSES,
    ROUTING_DELIVERY_OPENS,
    STAGES,
    UNIT_SIDE,
    URGENT_OPENS,
    Stage,
    UnitClockAction,
)

# The lifecycle events of docs/domain.md §5.3, plus `routed` (the routing decision as a timeline entry).
TimelineEventType = Literal["routed", LifecycleType]


class TimelineError(ValueError):
    """The timeline is inconsistent; the message starts with the field it is about."""


class _Loose(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class TimelineEvent(_Loose):
    type: TimelineEventType
    at: AwareDatetime
    days: int | None = Field(default=None, ge=1)
    reason: str | None = None
    approved_by: str | None = None
    unit: str | None = None
    report: Literal["urgent", "assignment"] | None = None
    report_within_hours: int | None = Field(default=None, ge=1)
    deadline_policy: str | None = None
    # On `routed`: `handle` starts the accept stage at routing; merge, divert_legal, redirect and
    # reject_concluded end the case there.
    disposition: Disposition | None = None


class TimelineAssignment(_Loose):
    due_days: int = Field(ge=1, le=365)
    from_unit: str | None = None


class TimelineDecision(_Loose):
    report_within_hours: int | None = Field(default=None, ge=1)
    deadline_policy: str | None = None


class Timeline(_Loose):
    case_id: str = Field(min_length=1, max_length=64)
    received_at: AwareDatetime
    channel: Channel
    assignment: TimelineAssignment | None = None
    report_within_hours: int | None = Field(default=None, ge=1)
    deadline_policy: str | None = None
    decision: TimelineDecision | None = None
    events: list[TimelineEvent] = []

    def report_hours(self, at: datetime | None = None) -> int | None:
        if self.report_within_hours is not None:
            return self.report_within_hours
        if self.decision is not None and self.decision.report_within_hours is not None:
            return self.decision.report_within_hours
        for ev in self.events:
            if ev.type == "routed" and ev.report_within_hours is not None and (at is None or ev.at <= at):
                return ev.report_within_hours
        return None

    def named_policy(self) -> str | None:
        if self.deadline_policy:
            return self.deadline_policy
        if self.decision is not None and self.decision.deadline_policy:
            return self.decision.deadline_policy
        for ev in self.events:
            if ev.type == "routed" and ev.deadline_policy:
                return ev.deadline_policy
        return None


def policy_for(timeline: Timeline) -> str:
    """The policy a timeline names, else the one its data needs: urgent, assignment or standard."""
    named = timeline.named_policy()
    if named:
        return named
    if timeline.report_hours() is not None:
        return "urgent"
    if timeline.assignment is not None or timeline.channel == "assignment":
        return "assignment"
    return "standard"


@dataclass(frozen=True)
class StageStatus:
    stage: Stage
    started_at: datetime
    due_date: date
    due_at: datetime
    completed_at: datetime | None
    status: Status
    escalation_level: int
    clock: Clock

    @classmethod
    def of(cls, clock: Clock, at: datetime) -> StageStatus:
        """The clock as known at `at` (a completed clock's due date as of its completion)."""
        due = clock.due(at if clock.completed_at is None else min(at, clock.completed_at))
        return cls(
            stage=clock.stage,
            started_at=clock.started_at,
            due_date=due.due_date,
            due_at=due.due_at,
            completed_at=clock.completed_as_of(at),
            status=clock.status(at),
            escalation_level=clock.escalation_level(at),
            clock=clock,
        )

    def to_json(self, tz: ZoneInfo) -> dict[str, Any]:
        return {
            "stage": self.stage,
            "started_at": self.started_at.astimezone(tz).isoformat(),
            "due_date": self.due_date.isoformat(),
            "due_at": self.due_at.astimezone(tz).isoformat(),
            "completed_at": self.completed_at.astimezone(tz).isoformat() if self.completed_at else None,
            "status": self.status,
        }


def evaluate_timeline(
    timeline: Timeline,
    at: datetime,
    policies: DeadlinePolicies,
    policy_name: str = "standard",
) -> list[StageStatus]:
    if at.tzinfo is None:
        raise ValueError("at must carry a UTC offset")
    clocks = _run(timeline, at, policies.get(policy_name))
    return [StageStatus.of(clocks[stage], at) for stage in STAGES if stage in clocks]


def timeline_json(timeline: Timeline, stages: list[StageStatus], tz: ZoneInfo) -> dict[str, Any]:
    """The docs/domain.md §10 output of `xf deadlines`."""
    return {"case_id": timeline.case_id, "stages": [s.to_json(tz) for s in stages]}


class ClockBook:
    """The stage clocks of one case (the latest instance of each stage), advanced event by event.

    `xf deadlines` replays a whole timeline into a fresh book; the tracker service loads a case's
    stored clocks into a book and steps it with each new event, so both compute the same clocks.
    `policy` is the policy new clocks start under; clocks already in the book keep their own.
    """

    def __init__(self, policy: DeadlinePolicy, clocks: dict[Stage, Clock] | None = None) -> None:
        self.policy = policy
        self.clocks: dict[Stage, Clock] = dict(clocks or {})
        self.ended_by: str | None = None

    def start(self, stage: Stage, at: datetime, limit: int | None = None) -> None:
        self.clocks[stage] = Clock.start(stage, at, self.policy, limit)

    def running(self, stage: Stage) -> bool:
        clock = self.clocks.get(stage)
        return clock is not None and clock.completed_at is None

    def complete(self, stage: Stage, at: datetime) -> None:
        if self.running(stage):
            self.clocks[stage] = self.clocks[stage].complete(at)

    def unit_side(self) -> Stage | None:
        running: list[tuple[datetime, Stage]] = [(self.clocks[s].started_at, s) for s in UNIT_SIDE if self.running(s)]
        return max(running)[1] if running else None


def open_case(
    book: ClockBook,
    received_at: datetime,
    *,
    assignment_days: int | None,
    assignment_channel: bool,
    report_hours: int | None,
    strict: bool = True,
) -> None:
    """The clocks that start at receipt: route, and assignment_report / urgent_report when due.

    A channel-`assignment` case without due_days uses the policy's own limit if it has one; if it
    has none, `strict` raises (xf deadlines), otherwise the clock is not started (the service).
    """
    for stage in RECEIPT_OPENS:
        book.start(stage, received_at)
    if assignment_days is not None:
        book.start(ASSIGNMENT_OPENS, received_at, assignment_days)
    elif assignment_channel and book.policy.has(ASSIGNMENT_OPENS):
        if book.policy.stage(ASSIGNMENT_OPENS).limit is not None:
            book.start(ASSIGNMENT_OPENS, received_at)
        elif strict:
            raise TimelineError("assignment.due_days: required for channel assignment")
    elif assignment_channel and strict:
        raise TimelineError("assignment.due_days: required for channel assignment")
    if report_hours is not None:
        book.start(URGENT_OPENS, received_at, report_hours)


def _run(timeline: Timeline, at: datetime, policy: DeadlinePolicy) -> dict[Stage, Clock]:
    book = ClockBook(policy)
    open_case(
        book,
        timeline.received_at,
        assignment_days=timeline.assignment.due_days if timeline.assignment is not None else None,
        assignment_channel=timeline.channel == "assignment",
        report_hours=timeline.report_hours(at),
    )
    indexed = sorted(((i, ev) for i, ev in enumerate(timeline.events) if ev.at <= at), key=lambda pair: pair[1].at)
    for i, ev in indexed:
        try:
            step(book, ev, timeline.received_at)
        except ClockError as exc:
            raise TimelineError(f"events[{i}] ({ev.type}): {exc}") from None
        except TimelineError as exc:
            raise TimelineError(f"events[{i}] ({ev.type}): {exc}") from None
    return book.clocks


def step(run: ClockBook, ev: TimelineEvent, received_at: datetime) -> None:
    """Advance the clocks by one event (as the table in services/tracker/stages.py says).

    Raises TimelineError or ClockError when it does not fit.
    """
    t = ev.at
    if t < received_at:
        raise TimelineError("at: before the case was received")
    kind = ev.type
    if run.ended_by is not None and kind not in ("feedback", "reported"):
        raise TimelineError(f"the case already ended ({run.ended_by})")
    if kind in ENDING_EVENTS:
        run.ended_by = kind
    if kind == "routed":
        for stage in ROUTING_CLOSES:
            run.complete(stage, t)
        _routed(run, ev, received_at)
        return
    rule = EVENTS[kind]
    opens = rule.opens
    if kind == "delivered" and any(s in run.clocks for s in opens):
        opens = ()  # routing already delivered it (disposition handle): the accept clock runs on
    elif kind in ("accepted", "rejected"):
        _implied_accept(run, t, received_at)
        if not run.running("accept"):
            raise TimelineError(f"the accept stage already ended; {kind} again?")
    elif kind == "reassigned":
        if any(s in run.clocks for s in REVIEW_CLOCKS):
            raise TimelineError("cannot reassign after the reply")
    elif rule.unit_clock is not None:
        _unit_clock(run, ev, rule.unit_clock)
    elif rule.finishes is not None:
        _check_finishes(run, rule.finishes, opens)
    elif kind == "reported":
        if ev.report is None:
            raise TimelineError("report: required (urgent or assignment)")
        run.complete(REPORT_CLOCK[ev.report], t)
    if rule.closes_all:
        _complete_all(run, t)
    for stage in rule.closes:
        if stage in rule.discards or stage in rule.opens:
            run.clocks.pop(stage, None)  # dropped, or restarted below (reassigned: accept for the new unit)
        else:
            run.complete(stage, t)
    for stage in opens:
        run.start(stage, t)
    # feedback does not move any clock.


def _unit_clock(run: ClockBook, ev: TimelineEvent, action: UnitClockAction) -> None:
    """Pause, resume or extend the running unit-side clock (the one started last)."""
    side = run.unit_side()
    if side is None:
        raise TimelineError("no running unit-side stage (accept, handle, review, rereview)")
    clock = run.clocks[side]
    if action == "pause":
        run.clocks[side] = clock.pause(ev.at, ev.reason or "other")
    elif action == "resume":
        run.clocks[side] = clock.resume(ev.at)
    else:
        if ev.days is None:
            raise TimelineError("days: required")
        run.clocks[side] = clock.extend(ev.days, ev.reason or "", ev.approved_by or "", ev.at)


def _routed(run: ClockBook, ev: TimelineEvent, received_at: datetime) -> None:
    if ev.report_within_hours is not None and URGENT_OPENS not in run.clocks:
        run.start(URGENT_OPENS, received_at, ev.report_within_hours)
    if ev.disposition in ENDING_DISPOSITIONS:
        _complete_all(run, ev.at)
        run.ended_by = ev.disposition
    elif ev.disposition == DELIVERING_DISPOSITION:
        # The receiving unit handles the case itself: routing is its delivery.
        for stage in ROUTING_DELIVERY_OPENS:
            if stage not in run.clocks:
                run.start(stage, ev.at)


def _complete_all(run: ClockBook, t: datetime) -> None:
    for stage in list(run.clocks):
        run.complete(stage, t)


def _implied_accept(run: ClockBook, t: datetime, received_at: datetime) -> None:
    if "accept" in run.clocks:
        return
    route = run.clocks["route"]
    started = route.completed_at or received_at
    run.complete("route", t)
    run.start("accept", started)


def _check_finishes(run: ClockBook, finish: Stage, opens: tuple[Stage, ...]) -> None:
    """The event answers the running `finish` clock, and starts clocks not started yet."""
    if finish not in run.clocks:
        raise TimelineError(f"needs {OPENED_BY[finish]} first")
    if not run.running(finish):
        raise TimelineError(f"the {finish} stage already ended")
    for start in opens:
        if start in run.clocks:
            raise TimelineError(f"the {start} stage already started")
