"""The engine: every stage rule as the service applies it, through the stored row format."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from engine_sim import CASE, CaseSim, at, ev, received, routed
from tracker_helpers import RULES, local

from services.common.envelope import deterministic_id
from services.tracker.deadlines import DeadlinePolicies, Timeline, evaluate_timeline, parse_policies
from services.tracker.engine import Applied, Duplicate, Held, Refused
from services.tracker.records import PolicyResolver

EXT = {"reason": "needs a site survey", "approved_by": "150627:petition"}


@pytest.fixture
def sim(policies: DeadlinePolicies) -> CaseSim:
    return CaseSim(PolicyResolver(policies))


def main_line() -> list[object]:
    return [
        received(),
        routed(),
        ev("delivered", "2026-05-07 09:00"),
        ev("accepted", "2026-05-08 09:00"),
        ev("replied", "2026-06-01 09:00"),
        ev("review_requested", "2026-06-05 09:00"),
        ev("reviewed", "2026-06-20 09:00"),
        ev("rereview_requested", "2026-06-25 09:00"),
        ev("rereviewed", "2026-07-10 09:00"),
    ]


def test_the_main_line_stage_by_stage(sim: CaseSim) -> None:
    expected = [
        ("received", {"route": "2026-05-21"}),
        ("routed", {}),
        ("delivered", {"accept": "2026-05-22"}),
        ("accepted", {"handle": "2026-07-07"}),
        ("replied", {"review_window": "2026-07-01"}),
        ("review_requested", {"review": "2026-07-06"}),  # 5 July is a Sunday
        ("reviewed", {"rereview_window": "2026-07-20"}),
        ("rereview_requested", {"rereview": "2026-07-27"}),  # 25 July is a Saturday
        ("rereviewed", {}),
    ]
    for body, (stage, dues) in zip(main_line(), expected, strict=True):
        sim.run(body)  # type: ignore[arg-type]
        assert sim.stage == stage
        for clock_stage, due in dues.items():
            assert sim.due(clock_stage) == due, clock_stage
    assert sim.clock("route")["outcome"] == "met"
    assert {s for s, r in sim.clock_rows.items() if r["completed_at"] is None} == set()


def test_rereview_is_followed_by_the_trackers_own_conclusion(sim: CaseSim) -> None:
    events = main_line()
    sim.run(*events[:-1])  # type: ignore[arg-type]
    outcome = sim.send(events[-1])  # type: ignore[arg-type]
    assert isinstance(outcome, Applied)
    (conclusion,) = outcome.derived
    assert conclusion.type == "concluded" and conclusion.actor == "tracker"
    assert conclusion.event_id == deterministic_id("tracker-conclusion", events[-1].event_id)  # type: ignore[attr-defined]
    sim.run(conclusion)
    assert sim.stage == "concluded"
    assert sim.row is not None and sim.row["closed"] and sim.row["outcome"] == "concluded"


def test_the_service_computes_what_xf_deadlines_prints(sim: CaseSim, policies: DeadlinePolicies) -> None:
    events = [
        received(),
        routed(),
        ev("accepted", "2026-05-08 09:00"),  # no recorded delivery: implied at routing
        ev("paused", "2026-05-20 09:00", reason="hearing"),
        ev("resumed", "2026-05-24 15:00"),
        ev("extended", "2026-05-25 09:00", days=20, **EXT),
        ev("replied", "2026-08-01 09:00"),
        ev("review_requested", "2026-08-10 10:00"),
    ]
    sim.run(*events)  # type: ignore[arg-type]
    timeline = Timeline.model_validate(
        {
            "case_id": CASE,
            "received_at": "2026-05-06T09:00:00+08:00",
            "channel": "visit",
            "events": [{"type": "routed", "at": "2026-05-06T10:00:00+08:00"}]
            + [e.model_dump(mode="json", exclude={"event_id", "case_id", "actor"}) for e in events[2:]],  # type: ignore[attr-defined]
        }
    )
    stages = evaluate_timeline(timeline, local("2026-08-11 00:00"), policies, "standard")
    assert {s.stage: str(s.due_date) for s in stages} == {s: str(r["due_date"]) for s, r in sim.clock_rows.items()}
    assert sim.due("handle") == "2026-08-03"  # 60 + 20 days, + 5 started paused days, 1 Aug is a Saturday
    assert sim.clock("accept")["started_at"] == at("2026-05-06 10:00")


def test_handle_disposition_is_routing_as_delivery(sim: CaseSim, policies: DeadlinePolicies) -> None:
    sim.run(received(), routed(disposition="handle", unit="150627:petition"))
    assert sim.stage == "delivered"
    assert sim.clock("accept")["started_at"] == at("2026-05-06 10:00")
    assert sim.due("accept") == "2026-05-21"
    assert sim.row is not None and sim.row["delivered_at"] == at("2026-05-06 10:00")
    confirmed = sim.send(ev("delivered", "2026-05-06 11:00"))
    assert isinstance(confirmed, Applied) and confirmed.clocks == []  # the unit's own confirmation: a no-op
    timeline = Timeline.model_validate(
        {
            "case_id": CASE,
            "received_at": "2026-05-06T09:00:00+08:00",
            "channel": "visit",
            "events": [{"type": "routed", "at": "2026-05-06T10:00:00+08:00", "disposition": "handle"}],
        }
    )
    (route, accept) = evaluate_timeline(timeline, local("2026-05-07 00:00"), policies, "standard")
    assert (route.status, accept.stage, str(accept.due_date)) == ("met", "accept", "2026-05-21")


@pytest.mark.parametrize(
    ("disposition", "stage"),
    [
        ("merge", "merged"),
        ("divert_legal", "diverted"),
        ("redirect", "redirected"),
        ("reject_concluded", "reject_concluded"),
    ],
)
def test_ending_dispositions_close_every_clock(sim: CaseSim, disposition: str, stage: str) -> None:
    sim.run(received(assignment_days=10), routed(disposition=disposition))  # type: ignore[arg-type]
    assert sim.stage == stage
    assert sim.row is not None and sim.row["closed"] and sim.row["closed_at"] == at("2026-05-06 10:00")
    assert all(r["completed_at"] is not None and r["next_alert_at"] is None for r in sim.clock_rows.values())
    refused = sim.send(ev("accepted", "2026-05-07 09:00"))
    assert isinstance(refused, Refused) and refused.kind == "case_closed"


def test_rejection_and_withdrawal(sim: CaseSim) -> None:
    sim.run(received(), routed(), ev("delivered", "2026-05-07 09:00"), ev("rejected", "2026-05-08 09:00", reason="x"))
    assert (sim.stage, sim.clock("accept")["outcome"]) == ("rejected", "met")
    other = CaseSim(sim.resolver).run(received(), routed(), ev("accepted", "2026-05-07 09:00"))
    other.run(ev("withdrawn", "2026-05-09 09:00"))
    assert other.stage == "withdrawn"
    assert other.clock("handle")["completed_at"] == at("2026-05-09 09:00")


def test_assignment_and_urgent_report_clocks(sim: CaseSim) -> None:
    sim.run(received(assignment_days=10))
    report = sim.clock("assignment_report")
    assert (report["policy"], str(report["due_date"])) == ("assignment", "2026-05-18")  # 16 May is a Saturday
    sim.run(routed(disposition="assign", policy="urgent", hours=6))
    urgent = sim.clock("urgent_report")
    assert urgent["started_at"] == at("2026-05-06 09:00")  # counted from receipt, in hours
    assert urgent["due_at"] == at("2026-05-06 15:00")
    assert urgent["policy"] == "urgent"
    sim.run(ev("reported", "2026-05-06 14:00", report="urgent"))
    assert sim.clock("urgent_report")["outcome"] == "met"
    sim.run(ev("accepted", "2026-05-07 09:00"), ev("replied", "2026-05-20 09:00"))
    assert sim.clock("assignment_report")["outcome"] == "late"


@pytest.mark.parametrize(
    ("event", "start", "due"),
    [
        ("delivered", "2026-01-31 10:00", "2026-02-24"),  # accept ends 15 Feb, in the Spring Festival
        ("delivered", "2026-09-16 10:00", "2026-10-08"),  # accept ends 1 Oct, National Day
        ("delivered", "2026-01-30 10:00", "2026-02-14"),  # ends on a swapped working Saturday: stays
    ],
)
def test_the_holiday_rule_through_the_service_path(
    policies: DeadlinePolicies, event: str, start: str, due: str
) -> None:
    day = start[:10]
    sim = CaseSim(PolicyResolver(policies))
    sim.run(received(f"{day} 08:00"), routed(f"{day} 09:00", received_at=f"{day} 08:00"), ev(event, start))
    assert sim.due("accept") == due


def test_pause_and_resume(sim: CaseSim) -> None:
    sim.run(received(), routed(), ev("accepted", "2026-05-08 09:00"))
    sim.run(ev("paused", "2026-05-10 09:00", reason="awaiting_material"))
    paused = sim.clock("handle")
    assert paused["paused_since"] == at("2026-05-10 09:00")
    assert paused["next_alert_at"] is None  # a paused clock raises nothing
    assert str(paused["due_date"]) == "2026-07-07"
    twice = sim.send(ev("paused", "2026-05-11 09:00", reason="hearing"))
    assert isinstance(twice, Refused) and twice.kind == "already_paused"
    sim.run(ev("resumed", "2026-05-13 09:00"))
    resumed = sim.clock("handle")
    assert (resumed["paused_since"], str(resumed["due_date"])) == (None, "2026-07-10")  # +3 days
    assert resumed["paused_total"] == timedelta(days=3)
    assert resumed["pauses"] == [
        {
            "started_at": "2026-05-10T09:00:00+08:00",
            "reason": "awaiting_material",
            "ended_at": "2026-05-13T09:00:00+08:00",
        }
    ]
    not_paused = sim.send(ev("resumed", "2026-05-14 09:00"))
    assert isinstance(not_paused, Refused) and not_paused.kind == "not_paused"


def test_extension_and_its_bound(sim: CaseSim) -> None:
    sim.run(received(), routed(), ev("accepted", "2026-05-08 09:00"))
    too_long = sim.send(ev("extended", "2026-05-10 09:00", days=31, **EXT))
    assert isinstance(too_long, Refused) and too_long.kind == "extension_bound"
    assert "maximum of 30" in too_long.reason
    assert sim.due("handle") == "2026-07-07"  # state untouched
    sim.run(ev("extended", "2026-05-10 09:00", days=30, **EXT))
    assert sim.due("handle") == "2026-08-06"  # 60 + 30 days from acceptance
    assert sim.clock("handle")["extensions"][0]["approved_by"] == "150627:petition"
    again = sim.send(ev("extended", "2026-05-11 09:00", days=1, **EXT))
    assert isinstance(again, Refused) and again.kind == "extension_bound"
    route_stage = CaseSim(sim.resolver).run(received(), routed(), ev("delivered", "2026-05-07 09:00"))
    accept = route_stage.send(ev("extended", "2026-05-08 09:00", days=5, **EXT))
    assert isinstance(accept, Refused) and accept.kind == "extension_bound"  # accept cannot be extended


def test_out_of_order_events_are_held_and_duplicates_dropped(sim: CaseSim) -> None:
    assert isinstance(sim.send(ev("accepted", "2026-05-08 09:00")), Held)  # case not received yet
    assert isinstance(sim.send(routed()), Held)
    sim.run(received(), routed())
    held = sim.send(ev("replied", "2026-05-20 09:00"))
    assert isinstance(held, Held) and held.kind == "premature" and "accepted first" in held.reason
    assert sim.stage == "routed"
    assert isinstance(sim.send(received()), Duplicate)
    sim.run(ev("accepted", "2026-05-08 09:00"))
    again = sim.send(ev("accepted", "2026-05-09 09:00"))
    assert isinstance(again, Refused) and again.kind == "illegal"


def test_illegal_transitions_leave_the_case_alone(sim: CaseSim) -> None:
    sim.run(received(), routed(), ev("accepted", "2026-05-08 09:00"), ev("replied", "2026-05-20 09:00"))
    before = (dict(sim.row or {}), {s: dict(r) for s, r in sim.clock_rows.items()})
    for body in (
        ev("accepted", "2026-05-21 09:00"),
        ev("rejected", "2026-05-21 09:00", reason="r"),
        ev("reassigned", "2026-05-21 09:00", unit="150627:housing"),
        ev("review_requested", "2026-05-19 09:00"),  # before the reply it requests a review of
        ev("delivered", "2026-04-01 09:00"),  # before the case was received
    ):
        outcome = sim.send(body)
        assert isinstance(outcome, Refused), (body.type, outcome)
        assert outcome.kind == "illegal" and outcome.reason
    assert (sim.row, sim.clock_rows) == before


def test_a_review_request_after_the_window_is_refused(sim: CaseSim) -> None:
    sim.run(received(), routed(), ev("accepted", "2026-05-08 09:00"), ev("replied", "2026-06-01 09:00"))
    late = sim.send(ev("review_requested", "2026-07-02 09:00"))
    assert isinstance(late, Refused) and "review_window lapsed on 2026-07-01" in late.reason
    sim.run(ev("review_requested", "2026-07-01 20:00"))  # the last day counts


def test_reassignment_restarts_accept_and_supersedes_handle(sim: CaseSim) -> None:
    sim.run(received(), routed(), ev("accepted", "2026-05-08 09:00"))
    outcome = sim.send(ev("reassigned", "2026-05-10 09:00", unit="150627:housing"))
    assert isinstance(outcome, Applied) and outcome.superseded == ["handle"]
    assert (sim.stage, sim.row and sim.row["handling_unit"]) == ("delivered", "150627:housing")
    accept = sim.clock("accept")
    assert (accept["generation"], accept["unit"], str(accept["due_date"])) == (2, "150627:housing", "2026-05-25")
    sim.run(ev("accepted", "2026-05-12 09:00"))
    handle = sim.clock("handle")
    assert (handle["generation"], handle["unit"], handle["outcome"]) == (2, "150627:housing", None)


def test_a_moved_deadline_re_arms_its_alerts(sim: CaseSim) -> None:
    sim.run(received(), routed(), ev("accepted", "2026-05-08 09:00"))
    sim.clock_rows["handle"]["alert_level"] = 1  # the scanner raised the warning
    sim.run(ev("extended", "2026-07-05 09:00", days=10, **EXT))
    handle = sim.clock("handle")
    assert handle["alert_level"] == 0
    assert handle["next_alert_at"] == handle["warn_at"] == at("2026-07-15 00:00")  # due 17 July, 3-day lead
    sim.clock_rows["handle"]["alert_level"] = 1
    sim.run(ev("paused", "2026-07-06 09:00", reason="hearing"), ev("resumed", "2026-07-06 09:00"))
    assert sim.clock("handle")["alert_level"] == 1  # a zero-length pause moves nothing: nothing re-armed


def test_running_clocks_keep_their_policy_new_clocks_take_the_new_one(policies: DeadlinePolicies) -> None:
    sim = CaseSim(PolicyResolver(policies))
    sim.run(received(), routed(), ev("accepted", "2026-05-08 09:00"))
    old_version = sim.clock("handle")["policy_version"]
    text = (RULES / "deadlines.yaml").read_text(encoding="utf-8")
    changed = text.replace("handle: {limit: 60", "handle: {limit: 45").replace(
        "review_window: {limit: 30}", "review_window: {limit: 20}"
    )
    assert changed != text
    sim.resolver = PolicyResolver(parse_policies(changed, Path("changed.yaml")))
    sim.run(ev("paused", "2026-05-10 09:00", reason="hearing"), ev("resumed", "2026-05-11 09:00"))
    handle = sim.clock("handle")
    assert (str(handle["due_date"]), handle["policy_version"]) == ("2026-07-08", old_version)  # 60 + 1 day
    sim.run(ev("replied", "2026-06-01 09:00"))
    window = sim.clock("review_window")
    assert str(window["due_date"]) == "2026-06-22"  # 20 days (21 June is a Sunday), under the new version
    assert window["policy_version"] != old_version


def test_clock_units_follow_the_stage(sim: CaseSim) -> None:
    sim.run(received(), routed(), ev("accepted", "2026-05-08 09:00"), ev("replied", "2026-05-20 09:00"))
    assert sim.clock("route")["unit"] == "150627:petition"
    assert sim.clock("handle")["unit"] == "150627:hrss"
    assert sim.clock("review_window")["unit"] is None
    sim.run(ev("review_requested", "2026-05-25 09:00"))
    assert sim.clock("review")["unit"] == "150600:hrss"  # the level above reviews
    assert sim.row is not None and sim.row["review_unit"] == "150600:hrss"
    sim.run(ev("reviewed", "2026-06-01 09:00"), ev("rereview_requested", "2026-06-02 09:00", unit="150000:hrss"))
    assert sim.clock("rereview")["unit"] == "150000:hrss"


def test_a_stored_policy_version_is_found_by_its_version(policies: DeadlinePolicies) -> None:
    resolver = PolicyResolver(policies)
    today = policies.get("standard")
    assert resolver.version(today.version, "standard") is today
    text = (RULES / "deadlines.yaml").read_text(encoding="utf-8").replace("handle: {limit: 60", "handle: {limit: 45")
    old = parse_policies(text, Path("old.yaml")).get("standard")
    assert not resolver.knows(old.version)
    assert resolver.version(old.version, "standard") is today  # never stored: today's, by name
    resolver.register(old.snapshot())
    assert resolver.knows(old.version)
    assert resolver.version(old.version, "standard").stage("handle").limit == 45
