"""What the handling units' own case systems report about a demo case: the `case.lifecycle` events
(docs/domain.md §5.3) from delivery to conclusion, with realistic timing.

Pure and deterministic: the same case, scenario, seed and `until` give the same events. A scenario says
how the case goes (a unit that never decides, a rejection, a withdrawal, a case left unanswered, an
extension, a late or a timely reply, a pause for missing material); `deal` hands scenarios out in exact
shares, so that every behaviour shows up in a run of a hundred cases. Durations are drawn as shares of
the stage limits of the deadline policy (rules/deadlines.yaml). Events later than `until` are left out:
the case stops where it is at that instant, open, due soon or overdue.

A case the router decided `handle` was delivered at routing (its accept clock started then), so its
units act from the routing on; so do cases received just now. These "live" cases move on an accelerated
clock (a day takes LIVE_DAY) so that the dashboards move while the demo runs.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

from services.common.envelope import deterministic_id
from services.common.lifecycle import LifecycleEvent, parse_lifecycle

DAY = timedelta(days=1)
LIVE_DAY = timedelta(seconds=0.2)
HANDLED = frozenset({"handle", "forward", "assign"})

Course = Literal[
    "undecided", "rejected", "withdrawn", "unanswered", "nearly_due", "extended", "late", "on_time", "given_up"
]
# Shares of each course among the cases sent for handling (the rest reply on time).
COURSES: Mapping[Course, float] = {
    "undecided": 0.04,  # the unit never decides on acceptance: the accept stage runs out
    "rejected": 0.05,  # 不予受理
    "withdrawn": 0.03,  # the petitioner withdraws before acceptance
    "unanswered": 0.10,  # accepted, never answered: backlog (积案) once past the handling deadline
    "nearly_due": 0.05,  # accepted long enough ago that the handling deadline is a day or two away (临期)
    "extended": 0.10,  # one extension, then the reply
    "late": 0.08,  # the reply comes after the deadline
    "given_up": 0.03,  # withdrawn during handling
}
PAUSED_SHARE = 0.10
LATE_DELIVERY_SHARE = 0.08
LATE_ACCEPTANCE_SHARE = 0.08
DOUBLE_REPLY_SHARE = 0.02


@dataclass(frozen=True)
class Limits:
    """Stage limits in days (the `standard` policy of rules/deadlines.yaml by default)."""

    route: int = 15
    accept: int = 15
    handle: int = 60
    review_window: int = 30
    review: int = 30
    rereview_window: int = 30
    rereview: int = 30
    max_extension_days: int = 30
    timezone: str = "Asia/Shanghai"


@dataclass(frozen=True)
class TrackedCase:
    """A demo case as the tracker holds it after routing."""

    case_id: str
    received_at: datetime
    routed_at: datetime
    disposition: str
    handling_unit: str
    report_within_hours: int | None = None
    assigned: bool = False


@dataclass(frozen=True)
class Scenario:
    course: Course = "on_time"
    paused: bool = False
    late_delivery: bool = False
    late_acceptance: bool = False
    double_reply: bool = False  # a unit's system sends its reply twice: the tracker refuses the second


def deal(rng: random.Random, count: int) -> list[Scenario]:
    """Scenarios for `count` cases: each share rounded, at least one of each when there are enough cases."""

    def quota(share: float) -> int:
        return max(1, round(share * count)) if count >= 1 / share / 2 else round(share * count)

    courses: list[Course] = [course for course, share in COURSES.items() for _ in range(quota(share))]
    courses = (courses + ["on_time"] * count)[:count]
    rng.shuffle(courses)
    flags = {
        name: set(rng.sample(range(count), min(count, quota(share))))
        for name, share in (
            ("paused", PAUSED_SHARE),
            ("late_delivery", LATE_DELIVERY_SHARE),
            ("late_acceptance", LATE_ACCEPTANCE_SHARE),
        )
    }
    on_time = [i for i, course in enumerate(courses) if course == "on_time"]
    doubles = set(rng.sample(on_time, min(len(on_time), quota(DOUBLE_REPLY_SHARE))))
    return [
        Scenario(
            course,
            paused=i in flags["paused"],
            late_delivery=i in flags["late_delivery"],
            late_acceptance=i in flags["late_acceptance"],
            double_reply=i in doubles,
        )
        for i, course in enumerate(courses)
    ]


def is_live(case: TrackedCase) -> bool:
    """Received just now, or delivered at routing (its units act from the routing on)."""
    return case.disposition == "handle" or case.routed_at - case.received_at < timedelta(minutes=10)


def _unit_event(case: TrackedCase, event_id: str, kind: str, at: datetime, **fields: Any) -> LifecycleEvent:
    """A `case.lifecycle` event the case's handling unit reports."""
    return parse_lifecycle(
        {
            "event_id": event_id,
            "case_id": case.case_id,
            "type": kind,
            "at": at.isoformat(),
            "actor": case.handling_unit,
            **fields,
        }
    )


@dataclass
class _Timeline:
    case: TrackedCase
    until: datetime
    scale: float
    events: list[LifecycleEvent] = field(default_factory=list)
    stopped: bool = False

    @property
    def last(self) -> datetime:
        return self.events[-1].at if self.events else self.case.received_at

    def emit(self, kind: str, at: datetime, **fields: Any) -> datetime | None:
        """Add the event if it happens by `until` and return its time; once one does not, nothing later
        does either. Events keep their order: one drawn before the previous event moves just after it."""
        at = max(at, self.last + timedelta(hours=1) * self.scale)
        if self.stopped or at > self.until:
            self.stopped = True
            return None
        event_id = deterministic_id("xf-demo", self.case.case_id, kind, str(len(self.events)))
        self.events.append(_unit_event(self.case, event_id, kind, at, **fields))
        return at

    def days(self, rng: random.Random, low: float, high: float, limit: int) -> timedelta:
        """A duration between low and high shares of a stage limit, on this case's clock."""
        return rng.uniform(low, high) * limit * DAY * self.scale


def plan(
    case: TrackedCase, scenario: Scenario, rng: random.Random, until: datetime, limits: Limits = Limits()
) -> list[LifecycleEvent]:
    """The unit-side events of one case, in time order, none later than `until`."""
    if case.disposition not in HANDLED:
        return []  # merged, diverted, redirected or refused at routing: nothing for a unit to do
    live = is_live(case)
    line = _Timeline(case, until, LIVE_DAY / DAY if live else 1.0)
    t = max(case.received_at, case.routed_at) if live else case.received_at
    if case.report_within_hours:
        hours = case.report_within_hours * rng.choice((0.3, 0.6, 0.9, 0.9, 1.4))
        line.emit("reported", t + timedelta(hours=hours) * line.scale, report="urgent")
    if case.disposition != "handle":
        # 首问负责: the handling unit confirms it has the case (routing did that for `handle`).
        span = (1.05, 1.4) if scenario.late_delivery else (0.03, 0.5)
        delivered = line.emit("delivered", t + line.days(rng, *span, limits.route))
        if delivered is None:
            return line.events
        t = delivered
    if scenario.course == "undecided":
        return line.events
    decided = t + line.days(rng, *((1.05, 1.3) if scenario.late_acceptance else (0.05, 0.7)), limits.accept)
    if scenario.course == "nearly_due" and not live:
        # Accepted `handle` days before today (local): the handling deadline is today, 临期.
        tz = ZoneInfo(limits.timezone)
        day = until.astimezone(tz).date() - timedelta(days=limits.handle)
        decided = max(decided, datetime.combine(day, time(9), tz) + timedelta(hours=rng.uniform(0, 8)))
    if scenario.course == "rejected":
        line.emit("rejected", decided, reason="不属于信访事项受理范围，已告知信访人向有关机关提出。")
        return line.events
    if scenario.course == "withdrawn":
        line.emit("withdrawn", decided)
        return line.events
    accepted = line.emit("accepted", decided)
    if accepted is not None:
        _handle(line, scenario, rng, accepted, limits)
    return line.events


def _handle(line: _Timeline, scenario: Scenario, rng: random.Random, accepted: datetime, limits: Limits) -> None:
    """From acceptance to the reply, then the petitioner's side."""
    start = accepted
    if scenario.paused:
        paused = line.emit(
            "paused",
            accepted + line.days(rng, 0.05, 0.3, limits.handle),
            reason="awaiting_material",
            note="请信访人补充提供相关材料。",
        )
        if paused is None:
            return
        resumed = line.emit("resumed", paused + line.days(rng, 0.05, 0.2, limits.handle))
        if resumed is None:
            return
        start += resumed - paused  # the handling deadline moves by the pause; so does the unit's work
    course = scenario.course
    if course in ("unanswered", "nearly_due"):
        return
    if course == "extended":
        days = rng.randint(max(1, limits.max_extension_days // 3), limits.max_extension_days)
        extended = line.emit(
            "extended",
            start + line.days(rng, 0.75, 0.95, limits.handle),
            days=days,
            reason="情况复杂，需进一步调查核实。",
            approved_by=f"{line.case.handling_unit.split(':')[0]}:gov",
        )
        if extended is None:
            return
        reply = start + line.days(rng, 1.0, (limits.handle + days) / limits.handle * 0.98, limits.handle)
    elif course == "late":
        reply = start + line.days(rng, 1.03, 1.35, limits.handle)
    else:
        reply = start + line.days(rng, 0.15, 0.95, limits.handle)
    if course == "given_up":
        line.emit("withdrawn", reply)
        return
    replied = line.emit("replied", reply)
    if replied is None:
        return
    if scenario.double_reply:
        line.emit("replied", replied + DAY * line.scale)
    _after_reply(line, rng, replied, limits)


def _after_reply(line: _Timeline, rng: random.Random, replied: datetime, limits: Limits) -> None:
    satisfied = rng.random() < 0.75
    if rng.random() < 0.6:
        line.emit("feedback", replied + line.days(rng, 0.02, 0.2, limits.review_window), satisfied=satisfied)
    roll = rng.random()
    if satisfied and roll < 0.35:
        # 息诉罢访: the petitioner accepts the answer and the unit closes the case.
        line.emit("concluded", replied + line.days(rng, 0.2, 0.6, limits.review_window))
        return
    if satisfied or roll < 0.4:
        return  # nobody asks for a review: the window lapses and the tracker concludes the case
    requested = line.emit("review_requested", replied + line.days(rng, 0.2, 0.9, limits.review_window))
    if requested is None:
        return
    span = (0.3, 0.95) if rng.random() < 0.9 else (1.05, 1.3)
    reviewed = line.emit("reviewed", requested + line.days(rng, *span, limits.review))
    if reviewed is None or rng.random() < 0.7:
        return
    requested = line.emit("rereview_requested", reviewed + line.days(rng, 0.2, 0.9, limits.rereview_window))
    if requested is not None:  # after the re-review the tracker concludes the case itself (三级终结)
        line.emit("rereviewed", requested + line.days(rng, 0.3, 0.95, limits.rereview))


def misplaced(case: TrackedCase, at: datetime) -> LifecycleEvent:
    """A unit's system accepting a case that ended at routing (merged, diverted): the tracker refuses it."""
    return _unit_event(case, deterministic_id("xf-demo", case.case_id, "misplaced"), "accepted", at)
