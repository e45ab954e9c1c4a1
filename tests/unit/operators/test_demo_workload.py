"""The demo workload: its submissions, its scenarios, and lifecycle plans the tracker accepts.

The plans are replayed through the tracker's own pure code (the state machine of
services/tracker/lifecycle.py and the clock book of services/tracker/timeline.py), so a change there
that the demo no longer fits fails here, not on a running stack.
"""

from __future__ import annotations

import random
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from services.common.lifecycle import LifecycleEvent
from services.common.schemas import Decision, Location, ReceivedCase, RoutedCase
from services.common.settings import PROJECT_ROOT
from services.demo.lifecycle import COURSES, LIVE_DAY, Scenario, TrackedCase, deal, misplaced, plan
from services.demo.session import Options, submissions
from services.intake.validation import SubmissionInvalid, validate_submission
from services.tracker import lifecycle as machine
from services.tracker.policy import load_policies
from services.tracker.timeline import ClockBook, TimelineEvent, open_case, step

NOW = datetime(2026, 11, 20, 6, 0, tzinfo=UTC)
POLICIES = load_policies(PROJECT_ROOT / "rules")


def case(
    days_ago: float, disposition: str = "forward", *, live: bool = False, hours: int | None = None, n: int = 0
) -> TrackedCase:
    received = NOW - timedelta(days=days_ago)
    return TrackedCase(
        case_id=f"XF150627-{n:06d}-{disposition}",
        received_at=received,
        routed_at=received + timedelta(seconds=2) if live else NOW - timedelta(seconds=5),
        disposition=disposition,
        handling_unit="150627:hrss" if disposition != "handle" else "150627:petition",
        report_within_hours=hours,
    )


def replay_state_machine(tracked: TrackedCase, events: list[LifecycleEvent]) -> list[tuple[str, str]]:
    """Apply receipt, routing and the events; the (type, refusal kind) of every refused event."""
    received = ReceivedCase(
        case_id=tracked.case_id,
        received_at=tracked.received_at,
        channel="letter",
        received_by="150627:petition",
        category="wage_arrears",
        location=Location(region="150627107"),
        petitioner_key="p1_test-key-0001",
        people_count=1,
    )
    routed = RoutedCase(
        case_id=tracked.case_id,
        received_event_id="r1",
        routed_at=tracked.routed_at,
        received_at=tracked.received_at,
        channel="letter",
        people_count=1,
        category="wage_arrears",
        region="150627107",
        decision=Decision(
            disposition=tracked.disposition,  # type: ignore[arg-type]
            handling_unit=tracked.handling_unit,
            handling_level="county",
            report_within_hours=tracked.report_within_hours,
            deadline_policy="urgent" if tracked.report_within_hours else "standard",
            trace=["test"],
            ruleset_version="sha256:test",
        ),
    )
    refused: list[tuple[str, str]] = []
    state: machine.CaseState | None = None
    for event in (received, routed, *events):
        result = machine.apply(state, event, POLICIES)
        if isinstance(result, machine.Refusal):
            refused.append((result.event_type, result.kind))
        else:
            state = result.state
    return refused


def without_double(events: list[LifecycleEvent]) -> list[LifecycleEvent]:
    """The events less a reply sent twice (which the tracker refuses)."""
    return [e for i, e in enumerate(events) if not (i and e.type == "replied" and events[i - 1].type == "replied")]


def clocks_at(tracked: TrackedCase, events: list[LifecycleEvent], at: datetime) -> dict[str, str]:
    """Stage → status at `at`, moving the tracker's clock book in arrival order as its engine does
    (raises if an event does not fit the clocks)."""
    hours = tracked.report_within_hours
    book = ClockBook(POLICIES.get("urgent" if hours else "standard"))
    open_case(
        book, tracked.received_at, assignment_days=None, assignment_channel=False, report_hours=None, strict=False
    )
    routed = TimelineEvent(
        type="routed",
        at=tracked.routed_at,
        disposition=tracked.disposition,  # type: ignore[arg-type]
        report_within_hours=hours,
    )
    for event in (routed, *(TimelineEvent.model_validate(e.model_dump()) for e in events if e.type != "feedback")):
        step(book, event, tracked.received_at)
    return {stage: clock.status(at) for stage, clock in book.clocks.items()}


# --- scenarios ------------------------------------------------------------------------------------------


def test_deal_gives_exact_shares_and_every_course() -> None:
    scenarios = deal(random.Random(1), 100)
    courses = Counter(s.course for s in scenarios)
    assert set(courses) == {*COURSES, "on_time"}
    for course, share in COURSES.items():
        assert courses[course] == round(share * 100), course
    assert sum(s.paused for s in scenarios) == 10
    assert sum(s.double_reply for s in scenarios) == 2
    assert all(s.course == "on_time" for s in scenarios if s.double_reply)


def test_deal_is_deterministic_and_small_groups_still_get_rare_courses() -> None:
    assert deal(random.Random(5), 40) == deal(random.Random(5), 40)
    assert deal(random.Random(5), 40) != deal(random.Random(6), 40)
    few = Counter(s.course for s in deal(random.Random(2), 18))
    assert few["extended"] >= 1 and few["unanswered"] >= 1 and few["late"] >= 1
    assert sum(few.values()) == 18


# --- plans ----------------------------------------------------------------------------------------------


def plans(count: int, seed: int = 3, *, live: bool = False) -> list[tuple[TrackedCase, Scenario, list[LifecycleEvent]]]:
    rng = random.Random(seed)
    scenarios = deal(rng, count)
    result = []
    until = NOW + timedelta(seconds=20) if live else NOW
    for i, scenario in enumerate(scenarios):
        disposition = ("forward", "handle", "assign")[i % 3] if live else ("forward", "assign")[i % 2]
        hours = 24 if i % 7 == 0 else None
        tracked = case(0 if live else rng.uniform(0, 150), disposition, live=live, hours=hours, n=i)
        result.append((tracked, scenario, plan(tracked, scenario, random.Random(i), until)))
    return result


@pytest.mark.parametrize("live", [False, True], ids=["back-dated", "live"])
def test_plans_are_ordered_bounded_and_unique(live: bool) -> None:
    until = NOW + timedelta(seconds=20) if live else NOW
    all_ids: list[str] = []
    for tracked, _, events in plans(120, live=live):
        times = [e.at for e in events]
        assert times == sorted(times)
        assert all(tracked.received_at <= t <= until for t in times)
        if live:
            assert all(t >= tracked.routed_at for t in times)
        all_ids += [e.event_id for e in events]
    assert len(all_ids) == len(set(all_ids)) > 200


def test_plans_are_deterministic() -> None:
    first = [[e.model_dump() for e in events] for _, _, events in plans(30, seed=9)]
    again = [[e.model_dump() for e in events] for _, _, events in plans(30, seed=9)]
    assert first == again


@pytest.mark.parametrize("live", [False, True], ids=["back-dated", "live"])
def test_the_tracker_accepts_every_planned_event_but_the_double_reply(live: bool) -> None:
    kinds: Counter[str] = Counter()
    for tracked, scenario, events in plans(150, seed=4, live=live):
        refused = replay_state_machine(tracked, events)
        twice = scenario.double_reply and [e.type for e in events].count("replied") == 2
        expected = [("replied", "illegal")] if twice else []
        assert refused == expected, (scenario, [(e.type, e.at.isoformat()) for e in events])
        clocks_at(tracked, without_double(events), max([NOW, *(e.at for e in events)]))  # raises if they disagree
        kinds.update(e.type for e in events)
    wanted = {"delivered", "accepted", "rejected", "withdrawn", "extended", "paused", "resumed", "replied", "feedback"}
    assert wanted <= kinds.keys(), kinds


def test_back_dated_history_leaves_overdue_backlog_and_due_soon_stages() -> None:
    statuses: Counter[tuple[str, str]] = Counter()
    for tracked, _, events in plans(200, seed=6):
        statuses.update(clocks_at(tracked, without_double(events), NOW).items())
    assert statuses[("handle", "overdue")] >= 3  # 积案
    assert statuses[("handle", "due_soon")] >= 1
    assert statuses[("handle", "met")] >= 10 and statuses[("handle", "late")] >= 1
    assert statuses[("accept", "overdue")] + statuses[("accept", "late")] >= 1


def test_cases_closed_at_routing_get_no_unit_events() -> None:
    for disposition in ("merge", "divert_legal", "redirect", "reject_concluded"):
        assert plan(case(10, disposition), Scenario(), random.Random(1), NOW) == []


def test_a_misplaced_acceptance_is_refused_as_the_case_closed() -> None:
    merged = case(3, "merge")
    refused = replay_state_machine(merged, [misplaced(merged, NOW)])
    assert refused == [("accepted", "case_closed")]


def test_live_cases_move_on_the_accelerated_clock() -> None:
    tracked = case(0, "handle", live=True)
    events = plan(tracked, Scenario("on_time"), random.Random(2), NOW + timedelta(seconds=30))
    assert [e.type for e in events][:2] == ["accepted", "replied"]
    # 60 days of handling take 60 × LIVE_DAY of wall time at most.
    assert events[1].at - tracked.routed_at <= 75 * LIVE_DAY


# --- submissions ----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def items() -> list[tuple[str, dict[str, Any]]]:
    return submissions(Options(cases=400, seed=7), NOW, "Asia/Shanghai", "run1")


def test_submissions_are_deterministic_and_keyed_by_run(items: list[tuple[str, dict[str, Any]]]) -> None:
    again = submissions(Options(cases=400, seed=7), NOW, "Asia/Shanghai", "run1")
    assert again == items
    other_run = submissions(Options(cases=400, seed=7), NOW, "Asia/Shanghai", "run2")
    assert [s for _, s in other_run] == [s for _, s in items]
    assert {k for k, _ in other_run}.isdisjoint(k for k, _ in items)


def test_submissions_span_the_history_in_order_and_some_are_now(items: list[tuple[str, dict[str, Any]]]) -> None:
    times = [datetime.fromisoformat(s["received_at"]) for _, s in items if "received_at" in s]
    assert times == sorted(times)
    assert min(times) < NOW - timedelta(days=100) and max(times) <= NOW
    live = sum(1 for k, s in items if "received_at" not in s and not k.endswith("-mistyped"))
    assert 0.08 * 400 <= live <= 0.25 * 400


def test_submissions_have_realistic_shares(items: list[tuple[str, dict[str, Any]]]) -> None:
    cases = [s for k, s in items if not k.endswith("-mistyped")]
    assert len(cases) == 400
    channels = Counter(s["channel"] for s in cases)
    assert len(channels) >= 6 and channels.most_common(1)[0][0] == "online"
    assert len({s["category"] for s in cases}) >= 10
    collective = sum(1 for s in cases if s["people_count"] >= 5)
    litigation = sum(1 for s in cases if s["litigation"] != "none")
    above_county = sum(1 for s in cases if s["channel"] == "visit" and s["received_by"].endswith("00:petition"))
    assert 0.02 * 400 <= collective <= 0.12 * 400
    assert 0.02 * 400 <= litigation <= 0.12 * 400
    assert above_county >= 5  # visits to the city or the province: skip-level when two levels up
    assert len({s["location"]["region"][:4] for s in cases}) >= 8  # spread over the league's cities


def test_mistyped_submissions_fail_on_the_identity_number_and_are_then_corrected(
    items: list[tuple[str, dict[str, Any]]],
) -> None:
    mistyped = [(k, s) for k, s in items if k.endswith("-mistyped")]
    assert 4 <= len(mistyped) <= 30
    keys = [k for k, _ in items]
    for key, submission in mistyped:
        with pytest.raises(SubmissionInvalid) as refused:
            validate_submission(submission, now=NOW)
        assert {e.field for e in refused.value.errors} == {"petitioner.id_number"}
        corrected = dict(items)[key.removesuffix("-mistyped")]
        assert keys.index(key.removesuffix("-mistyped")) == keys.index(key) + 1
        validate_submission(corrected, now=NOW)
