"""The stage table (services/tracker/stages.py) against the code that reads it.

Random courses of a case are walked through the engine (the state machine and the clock book together,
as the service applies events): every applied event must open, close and discard exactly the clocks the
table says, reach the stage it says, and leave the state machine's open clocks equal to the clock book's
running ones. The same courses, replayed as a timeline through `xf deadlines`, must give the clocks, due
dates and statuses the read API gives for the stored case.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, TypeVar

from engine_sim import CASE, CaseSim, ev, received, routed
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from tracker_helpers import local

from services.common.lifecycle import LifecycleEvent, Reported
from services.common.schemas import Disposition, ReceivedCase, RoutedCase
from services.dashboards import sql
from services.report import vocabulary
from services.tracker import readmodel
from services.tracker.deadlines import DeadlinePolicies, Timeline, evaluate_timeline
from services.tracker.engine import Applied, Refused, state_of
from services.tracker.lifecycle import ALLOWED_FROM
from services.tracker.records import SUPERSEDED, PolicyResolver
from services.tracker.stages import (
    CASE_STAGES,
    DELIVERING_DISPOSITION,
    ENDING_DISPOSITIONS,
    ENDING_EVENTS,
    EVENTS,
    MAIN_LINE,
    OPENED_BY,
    RECEIPT_OPENS,
    REPORT_CLOCK,
    ROUTING_CLOSES,
    ROUTING_DELIVERY_OPENS,
    STAGES,
    TERMINAL,
    UNIT_CLOCK,
    URGENT_OPENS,
    WINDOWS,
    petition_status,
)
from services.tracker.status import petition_status as status_of_event

T = TypeVar("T")
Choose = Callable[[Sequence[T]], T]
DISPOSITIONS: tuple[Disposition, ...] = ("forward", "assign", DELIVERING_DISPOSITION, *ENDING_DISPOSITIONS)
# (policy named at routing, assignment due days, urgent report hours)
VARIANTS: tuple[tuple[str, int | None, int | None], ...] = (
    ("standard", None, None),
    ("assignment", 20, None),
    ("urgent", 10, 24),
)
FORWARD = {"routed"} | {k for k, rule in EVENTS.items() if rule.reaches in MAIN_LINE and rule.reaches != "concluded"}
EXT = {"reason": "needs a site survey", "approved_by": "150627:petition"}


# --- the table on its own ----------------------------------------------------------------------------


def test_the_table_covers_every_event_and_stage() -> None:
    assert set(ALLOWED_FROM) == set(EVENTS)
    for kind, rule in EVENTS.items():
        assert rule.allowed_from <= set(CASE_STAGES), kind
        assert set(rule.discards) <= set(rule.closes), kind
        assert rule.finishes is None or rule.finishes in rule.closes, kind
        assert rule.reaches is None or rule.reaches in CASE_STAGES, kind
        assert set(rule.opens) | set(rule.closes) <= set(STAGES), kind
    for kind, stage in ENDING_EVENTS.items():
        assert EVENTS[kind].reaches == stage
    assert set(ENDING_EVENTS.values()) | set(ENDING_DISPOSITIONS.values()) == TERMINAL
    # once a case has ended, only reports and the petitioner's feedback are still taken
    assert {k for k, rule in EVENTS.items() if TERMINAL & rule.allowed_from} == {"reported", "feedback"}
    assert set(REPORT_CLOCK.values()) <= set(STAGES) and set(WINDOWS) <= set(STAGES)
    # every clock but the report clocks and route is opened by exactly one event of the main line
    assert set(OPENED_BY) == set(STAGES) - {"route", "assignment_report", "urgent_report"}


def test_petition_statuses_follow_the_ends() -> None:
    for stage in CASE_STAGES:
        assert status_of_event(stage) == petition_status(stage)
        assert (petition_status(stage) == "open") == (stage not in TERMINAL and stage != "rereviewed"), stage


def test_the_reports_and_dashboards_name_every_stage_in_the_tables_order() -> None:
    assert tuple(vocabulary.CASE_STAGES) == CASE_STAGES
    assert tuple(vocabulary.STAGES) == STAGES
    assert sql.WINDOW_STAGES == "('review_window', 'rereview_window')"


# --- walking a case through the engine ----------------------------------------------------------------


@dataclass
class Walk:
    """One course of a case: what the engine applied, as bodies and as timeline entries."""

    policy: str
    assignment_days: int | None
    hours: int | None
    bodies: list[Any] = field(default_factory=list)
    tried: set[tuple[str, str]] = field(default_factory=set)


def _body(kind: str, when: str, choose: Choose[Any]) -> LifecycleEvent:
    extra: dict[str, Any] = {}
    if kind == "extended":
        extra = {"days": choose((1, 10, 40)), **EXT}
    elif kind == "paused":
        extra = {"reason": "hearing"}
    elif kind == "rejected":
        extra = {"reason": "not a petition matter"}
    elif kind == "reassigned":
        extra = {"unit": choose(("150627:housing", "150627:ecology"))}
    elif kind == "feedback":
        extra = {"satisfied": choose((True, False))}
    elif kind == "reported":
        extra = {"report": choose(tuple(REPORT_CLOCK))}
    return ev(kind, when, **extra)


def walk(sim: CaseSim, choose: Choose[Any], steps: int) -> Walk:
    policy, days, hours = choose(VARIANTS)
    course = Walk(policy, days, hours)
    first = received(assignment_days=days)
    check_received(sim, first, course)
    now = local("2026-05-06 10:00")
    for _ in range(steps):
        record = sim.record
        assert record is not None
        state = state_of(record, sim.resolver)
        options: list[str] = [k for k, rule in EVENTS.items() if state.stage in rule.allowed_from]
        if state.stage == "received":
            options.append("routed")
        if state.stage == "delivered" and state.disposition == DELIVERING_DISPOSITION:
            options.append("delivered")  # the unit's system confirming what routing did
        options = [k for k in options if (k != "paused" or not state.paused) and (k != "resumed" or state.paused)]
        # moving on along the main line is made likelier, so that walks reach its far end
        kind = choose(sorted(options) + [k for k in sorted(options) if k in FORWARD] * 3)
        course.tried.add((kind, state.stage))
        when = now.strftime("%Y-%m-%d %H:%M")
        if kind == "routed":
            body: Any = routed(when, disposition=choose(DISPOSITIONS), policy=policy, hours=hours)
            check_routed(sim, body, course)
        else:
            check_lifecycle(sim, _body(kind, when, choose), course)
        now += timedelta(days=choose((1, 2, 3)), hours=choose((0, 5)))
    return course


def _running(sim: CaseSim) -> set[str]:
    record = sim.record
    assert record is not None
    return {s for s, c in record.clocks.items() if c.clock.completed_at is None}


def check_received(sim: CaseSim, body: ReceivedCase, course: Walk) -> None:
    outcome = sim.send(body)
    assert isinstance(outcome, Applied), outcome
    course.bodies.append(body)
    expected = (*RECEIPT_OPENS, "assignment_report") if body.assignment else RECEIPT_OPENS
    assert outcome.transition.opens == expected
    assert outcome.transition.state.open_clocks == _running(sim) == set(expected)


def check_routed(sim: CaseSim, body: RoutedCase, course: Walk) -> None:
    before = _running(sim)
    outcome = sim.send(body)
    assert isinstance(outcome, Applied), outcome
    course.bodies.append(body)
    transition = outcome.transition
    disposition = body.decision.disposition
    if disposition in ENDING_DISPOSITIONS:
        assert transition.state.stage == ENDING_DISPOSITIONS[disposition]
        assert transition.closes == tuple(sorted(before)) and transition.opens == ()
        assert _running(sim) == set()
    else:
        delivered = disposition == DELIVERING_DISPOSITION
        assert transition.state.stage == ("delivered" if delivered else "routed")
        opens = (*(ROUTING_DELIVERY_OPENS if delivered else ()), *((URGENT_OPENS,) if course.hours else ()))
        assert transition.opens == opens
        assert transition.closes == ROUTING_CLOSES
        assert _running(sim) == (before - set(ROUTING_CLOSES)) | set(opens)
    assert transition.state.open_clocks == _running(sim)


def check_lifecycle(sim: CaseSim, body: LifecycleEvent, course: Walk) -> None:
    record = sim.record
    assert record is not None
    state = state_of(record, sim.resolver)
    before = _running(sim)
    assert state.open_clocks == before
    outcome = sim.send(body)
    if isinstance(outcome, Refused):
        # only what the table does not model may refuse a legal event: the extension bounds, and a
        # request after the petitioner's window lapsed
        lapsed = body.type in ("review_requested", "rereview_requested") and "lapsed" in outcome.reason
        assert (outcome.kind, body.type) == ("extension_bound", "extended") or lapsed, outcome
        return
    assert isinstance(outcome, Applied), outcome
    course.bodies.append(body)
    transition = outcome.transition
    rule = EVENTS[body.type]
    after = sim.record
    assert after is not None
    if body.type == "delivered" and state.stage == "delivered":
        assert (transition.opens, transition.closes) == ((), ())
        assert _running(sim) == before
        assert after.clocks["accept"].clock.started_at == record.clocks["accept"].clock.started_at
        return
    assert transition.state.stage == (rule.reaches or state.stage)
    assert transition.opens == rule.opens
    if rule.closes_all:
        closes: tuple[str, ...] = tuple(sorted(before))
    elif body.type == "reported":
        clock = REPORT_CLOCK[body.report]
        closes = (clock,) if clock in before else ()
    else:
        closes = tuple(s for s in rule.closes if s in before)
    assert transition.closes == closes
    # the clock book did the same, at the event's instant
    assert _running(sim) == (before - set(closes)) | set(rule.opens) == transition.state.open_clocks
    for stage in rule.opens:
        assert after.clocks[stage].clock.started_at == body.at, stage
    for stage in set(closes) - set(rule.opens):
        if stage in rule.discards:
            assert stage not in after.clocks, stage
        else:
            assert after.clocks[stage].clock.completed_at == body.at, stage
    if rule.unit_clock is not None:
        acted = after.clocks[UNIT_CLOCK[state.stage]].clock
        if rule.unit_clock == "pause":
            assert acted.pauses[-1].started_at == body.at
        elif rule.unit_clock == "resume":
            assert acted.pauses[-1].ended_at == body.at
        else:
            assert acted.extensions[-1].at == body.at
    for derived in outcome.derived:  # the tracker's own conclusion after a re-review
        check_lifecycle(sim, derived, course)


def test_every_event_does_what_the_table_says(policies: DeadlinePolicies) -> None:
    rng = random.Random(20261207)
    tried: set[tuple[str, str]] = set()
    for _ in range(800):
        sim = CaseSim(PolicyResolver(policies))
        tried |= walk(sim, rng.choice, steps=rng.randint(1, 24)).tried
    # `rereviewed` is never a resting stage: the tracker concludes the case with it (三级终结)
    reachable = (set(MAIN_LINE) | set(ENDING_EVENTS.values()) | set(ENDING_DISPOSITIONS.values())) - {"rereviewed"}
    wanted = {(kind, stage) for kind, rule in EVENTS.items() for stage in rule.allowed_from if stage in reachable}
    assert wanted - tried == set()


# --- the same course through `xf deadlines` and the read API -------------------------------------------


def timeline_of(course: Walk) -> Timeline:
    first: ReceivedCase = course.bodies[0]
    events: list[dict[str, Any]] = []
    for body in course.bodies[1:]:
        if isinstance(body, RoutedCase):
            decision = body.decision
            events.append(
                {
                    "type": "routed",
                    "at": body.routed_at.isoformat(),
                    "disposition": decision.disposition,
                    "deadline_policy": decision.deadline_policy,
                    "report_within_hours": decision.report_within_hours,
                }
            )
        else:
            events.append(body.model_dump(mode="json", exclude={"event_id", "case_id", "actor"}))
    return Timeline.model_validate(
        {
            "case_id": CASE,
            "received_at": first.received_at.isoformat(),
            "channel": first.channel,
            "assignment": {"due_days": first.assignment.due_days} if first.assignment else None,
            "events": events,
        }
    )


def urgent_report_before_routing(course: Walk) -> bool:
    for body in course.bodies:
        if isinstance(body, RoutedCase):
            return False
        if isinstance(body, Reported) and body.report == "urgent":
            return True
    return False


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data(), later=st.integers(min_value=0, max_value=120))
def test_xf_deadlines_and_the_read_api_agree_on_random_courses(
    policies: DeadlinePolicies, data: st.DataObject, later: int
) -> None:
    resolver = PolicyResolver(policies)
    sim = CaseSim(resolver)
    course = walk(sim, lambda options: data.draw(st.sampled_from(options)), steps=data.draw(st.integers(0, 12)))
    # Known disagreement, left as it is (no behaviour change here): an urgent report made before the
    # routing decision asked for one completes the urgent_report clock in `xf deadlines` (which starts it at
    # receipt from the whole timeline) but not in the service (which starts it when the decision arrives).
    assume(not urgent_report_before_routing(course))
    last = max(
        b.received_at if isinstance(b, ReceivedCase) else getattr(b, "routed_at", None) or b.at for b in course.bodies
    )
    at = last + timedelta(days=later)
    timeline = timeline_of(course)
    printed = {s.stage: s for s in evaluate_timeline(timeline, at, policies, course.policy)}
    rows = [row for row in sim.clock_rows.values() if row["outcome"] != SUPERSEDED]
    served = {d.stage: d for d in readmodel.deadlines(rows, resolver, at)}
    assert set(printed) == set(served)
    for stage, shown in served.items():
        expected = printed[stage]
        got = (shown.started_at, shown.due_date, shown.completed_at, shown.status, shown.escalation_level)
        assert got == (
            expected.started_at,
            expected.due_date,
            expected.completed_at,
            expected.status,
            expected.escalation_level,
        ), stage
