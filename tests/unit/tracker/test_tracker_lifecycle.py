"""Lifecycle event bodies and the case state machine."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
from engine_sim import CASE, ev, received, routed
from pydantic import ValidationError
from tracker_helpers import local

from services.common.lifecycle import LIFECYCLE_TYPES, Extended, Paused, parse_lifecycle
from services.common.schemas import Disposition
from services.tracker.deadlines import DeadlinePolicies
from services.tracker.lifecycle import (
    CaseState,
    Refusal,
    Transition,
    apply,
)


def ok(result: Transition | Refusal) -> CaseState:
    assert isinstance(result, Transition), result
    return result.state


def refused(result: Transition | Refusal, kind: str) -> Refusal:
    assert isinstance(result, Refusal), result
    assert result.kind == kind, result
    return result


def run(*events: Any, policies: DeadlinePolicies | None = None, start: CaseState | None = None) -> CaseState:
    state = start
    for e in events:
        state = ok(apply(state, e, policies))
    assert state is not None
    return state


# --- event bodies ------------------------------------------------------------------------------------


def test_every_type_parses_into_its_model() -> None:
    fields: dict[str, dict[str, Any]] = {
        "rejected": {"reason": "not a petition matter"},
        "extended": {"days": 30, "reason": "complex", "approved_by": "150627:petition"},
        "paused": {"reason": "hearing"},
        "reassigned": {"unit": "150627:housing"},
        "feedback": {"satisfied": True},
        "reported": {"report": "urgent"},
    }
    for type_ in LIFECYCLE_TYPES:
        event = ev(type_, "2026-05-07 09:00", **fields.get(type_, {}))
        assert event.type == type_
    assert isinstance(ev("extended", "2026-05-07 09:00", **fields["extended"]), Extended)


@pytest.mark.parametrize(
    ("body", "where"),
    [
        ({"type": "paused", "reason": "holiday"}, "reason"),
        ({"type": "extended", "days": 30, "reason": "r"}, "approved_by"),
        ({"type": "extended", "days": 0, "reason": "r", "approved_by": "u"}, "days"),
        ({"type": "rejected"}, "reason"),
        ({"type": "reassigned", "unit": "housing"}, "unit"),
        ({"type": "feedback"}, "satisfied"),
        ({"type": "accepted", "petitioner_name": "x"}, "petitioner_name"),
        ({"type": "teleported"}, "type"),
    ],
)
def test_invalid_bodies_are_rejected(body: dict[str, Any], where: str) -> None:
    base = {"event_id": "e", "case_id": CASE, "at": "2026-05-07T09:00:00+08:00", "actor": "a"}
    with pytest.raises(ValidationError) as info:
        parse_lifecycle({**base, **body})
    assert where in str(info.value)


def test_at_needs_an_offset() -> None:
    with pytest.raises(ValidationError):
        Paused(event_id="e", case_id=CASE, at=datetime(2026, 5, 7, 9), actor="a", reason="hearing")


# --- the state machine ------------------------------------------------------------------------------


def test_the_whole_main_line(policies: DeadlinePolicies) -> None:
    steps = [
        (received(), "received", ("route",), ()),
        (routed(), "routed", (), ("route",)),
        (ev("delivered", "2026-05-07 09:00"), "delivered", ("accept",), ()),
        (ev("accepted", "2026-05-08 09:00"), "accepted", ("handle",), ("accept",)),
        (ev("replied", "2026-06-01 09:00"), "replied", ("review_window",), ("handle",)),
        (ev("feedback", "2026-06-02 09:00", satisfied=False), "replied", (), ()),
        (ev("review_requested", "2026-06-05 09:00"), "review_requested", ("review",), ("review_window",)),
        (ev("reviewed", "2026-06-20 09:00"), "reviewed", ("rereview_window",), ("review",)),
        (ev("rereview_requested", "2026-06-25 09:00"), "rereview_requested", ("rereview",), ("rereview_window",)),
        (ev("rereviewed", "2026-07-10 09:00"), "rereviewed", (), ("rereview",)),
        (ev("concluded", "2026-07-11 09:00"), "concluded", (), ()),
    ]
    state: CaseState | None = None
    for event, stage, opens, closes in steps:
        result = apply(state, event, policies)
        assert isinstance(result, Transition), result
        assert (result.state.stage, result.opens, result.closes) == (stage, opens, closes)
        state = result.state
    assert state is not None
    assert state.closed
    assert state.open_clocks == frozenset()
    assert state.satisfied is False
    assert state.policy is not None and state.policy.name == "standard"


@pytest.mark.parametrize("stage_events", [["replied"], ["replied", "review_requested", "reviewed"]])
def test_conclusion_after_reply_or_review(stage_events: list[str]) -> None:
    state = run(received(), routed(), ev("accepted", "2026-05-07 09:00"))
    for i, type_ in enumerate(stage_events):
        state = run(ev(type_, f"2026-05-{10 + i} 09:00"), start=state)
    result = apply(state, ev("concluded", "2026-06-30 09:00"))
    assert ok(result).stage == "concluded"
    assert isinstance(result, Transition)
    assert "review_window" in result.closes or "rereview_window" in result.closes


def test_acceptance_directly_after_routing_implies_delivery() -> None:
    assert run(received(), routed(), ev("accepted", "2026-05-07 09:00")).stage == "accepted"


@pytest.mark.parametrize(
    ("disposition", "stage"),
    [
        ("merge", "merged"),
        ("divert_legal", "diverted"),
        ("redirect", "redirected"),
        ("reject_concluded", "reject_concluded"),
    ],
)
def test_ending_dispositions_close_the_case(disposition: Disposition, stage: str) -> None:
    state = run(received(assignment_days=10), routed(disposition=disposition))
    assert state.stage == stage
    assert state.closed
    assert state.open_clocks == frozenset()
    refused(apply(state, ev("delivered", "2026-05-07 09:00")), "case_closed")


def test_rejection_and_withdrawal_end_the_case() -> None:
    rejected = run(
        received(), routed(), ev("delivered", "2026-05-07 09:00"), ev("rejected", "2026-05-08 09:00", reason="x")
    )
    assert rejected.stage == "rejected"
    refused(apply(rejected, ev("accepted", "2026-05-09 09:00")), "case_closed")
    withdrawn = run(received(), routed(), ev("accepted", "2026-05-07 09:00"), ev("withdrawn", "2026-05-08 09:00"))
    assert withdrawn.stage == "withdrawn"
    assert withdrawn.open_clocks == frozenset()
    refused(apply(withdrawn, ev("withdrawn", "2026-05-09 09:00")), "case_closed")


def test_withdrawal_from_any_open_stage() -> None:
    assert run(received(), ev("withdrawn", "2026-05-06 10:00")).stage == "withdrawn"


def test_reassignment_returns_to_accept_with_the_new_unit() -> None:
    state = run(received(), routed(), ev("accepted", "2026-05-07 09:00"))
    result = apply(state, ev("reassigned", "2026-05-08 09:00", unit="150627:housing"))
    new = ok(result)
    assert (new.stage, new.handling_unit) == ("delivered", "150627:housing")
    assert isinstance(result, Transition)
    assert (result.opens, result.closes) == (("accept",), ("handle",))
    assert run(ev("accepted", "2026-05-09 09:00"), start=new).stage == "accepted"
    replied = run(ev("accepted", "2026-05-09 09:00"), ev("replied", "2026-05-10 09:00"), start=new)
    refused(apply(replied, ev("reassigned", "2026-05-11 09:00", unit="150627:civil")), "illegal")


def test_urgent_and_assignment_report_clocks() -> None:
    result = apply(None, received(assignment_days=10))
    assert isinstance(result, Transition)
    assert result.opens == ("route", "assignment_report")
    state = result.state
    routed_result = apply(state, routed(disposition="assign", hours=6))
    assert isinstance(routed_result, Transition)
    assert routed_result.opens == ("urgent_report",)
    state = routed_result.state
    state = run(ev("reported", "2026-05-06 12:00", report="urgent"), start=state)
    assert "urgent_report" not in state.open_clocks
    assert state.reports == {"urgent"}
    state = run(ev("accepted", "2026-05-07 09:00"), ev("replied", "2026-05-09 09:00"), start=state)
    assert "assignment_report" not in state.open_clocks


def test_pauses_are_recorded_and_checked() -> None:
    state = run(
        received(), routed(), ev("accepted", "2026-05-07 09:00"), ev("paused", "2026-05-10 09:00", reason="hearing")
    )
    assert state.paused
    refused(apply(state, ev("paused", "2026-05-11 09:00", reason="other")), "already_paused")
    state = run(ev("resumed", "2026-05-12 09:00"), start=state)
    assert not state.paused
    refused(apply(state, ev("resumed", "2026-05-13 09:00")), "not_paused")
    state = run(
        ev("paused", "2026-05-14 09:00", reason="awaiting_material"), ev("replied", "2026-05-20 09:00"), start=state
    )
    assert [(p.stage, p.reason, p.ended_at) for p in state.pauses] == [
        ("handle", "hearing", local("2026-05-12 09:00")),
        ("handle", "awaiting_material", local("2026-05-20 09:00")),  # the reply ended the pause
    ]
    refused(apply(state, ev("paused", "2026-05-21 09:00", reason="other")), "illegal")


def test_extension_bound(policies: DeadlinePolicies) -> None:
    ext = {"reason": "needs a site survey", "approved_by": "150627:petition"}
    state = run(received(), routed(), ev("accepted", "2026-05-07 09:00"), policies=policies)
    too_many = refused(apply(state, ev("extended", "2026-05-10 09:00", days=31, **ext)), "extension_bound")
    assert "maximum of 30" in too_many.reason
    state = run(ev("extended", "2026-05-10 09:00", days=30, **ext), start=state)
    assert [(e.stage, e.days) for e in state.extensions] == [("handle", 30)]
    second = refused(apply(state, ev("extended", "2026-05-11 09:00", days=1, **ext)), "extension_bound")
    assert "1 extension(s); 1 already granted" in second.reason
    accept = run(received(), routed(), ev("delivered", "2026-05-07 09:00"), policies=policies)
    refused(apply(accept, ev("extended", "2026-05-08 09:00", days=5, **ext)), "extension_bound")
    without_policy = run(received(), routed(), ev("accepted", "2026-05-07 09:00"))
    refused(apply(without_policy, ev("extended", "2026-05-10 09:00", days=5, **ext)), "extension_bound")


def test_unknown_policy_is_refused_at_routing(policies: DeadlinePolicies) -> None:
    refused(apply(run(received()), routed(policy="nope"), policies), "unknown_policy")


@pytest.mark.parametrize(
    ("prefix", "event_type", "kind"),
    [
        ([], "replied", "premature"),
        (["delivered"], "replied", "premature"),  # replied before accepted
        (["delivered"], "review_requested", "premature"),
        (["delivered", "accepted"], "reviewed", "premature"),
        (["delivered", "accepted"], "concluded", "premature"),
        (["delivered", "accepted"], "feedback", "premature"),
        (["delivered", "accepted"], "delivered", "illegal"),
        (["delivered", "accepted"], "accepted", "illegal"),
        (["delivered", "accepted", "replied"], "rejected", "illegal"),
        (["delivered", "accepted", "replied", "review_requested"], "replied", "illegal"),
        (["delivered", "accepted", "replied", "review_requested"], "concluded", "illegal"),
        (["delivered", "accepted", "replied", "review_requested", "reviewed"], "review_requested", "illegal"),
    ],
)
def test_refused_transitions(prefix: list[str], event_type: str, kind: str) -> None:
    state = run(received(), routed())
    for i, type_ in enumerate(prefix):
        state = run(ev(type_, f"2026-05-{7 + i:02d} 09:00"), start=state)
    extra: dict[str, dict[str, Any]] = {"feedback": {"satisfied": True}, "rejected": {"reason": "r"}}
    fields = extra.get(event_type, {})
    result = refused(apply(state, ev(event_type, "2026-05-20 09:00", **fields)), kind)
    assert event_type in result.reason
    assert result.event_type == event_type


def test_unknown_case_wrong_case_duplicates_and_time_travel() -> None:
    refused(apply(None, ev("accepted", "2026-05-07 09:00")), "unknown_case")
    refused(apply(None, routed()), "unknown_case")
    state = run(received())
    assert (
        "needs the case to be routed" in refused(apply(state, ev("accepted", "2026-05-07 09:00")), "premature").reason
    )
    refused(apply(state, received()), "duplicate")
    state = run(routed(), start=state)
    refused(apply(state, routed()), "illegal")
    delivered = ev("delivered", "2026-05-07 09:00")
    state = run(delivered, start=state)
    refused(apply(state, delivered), "duplicate")
    other = parse_lifecycle(
        {"event_id": "x", "case_id": "OTHER", "type": "accepted", "at": local("2026-05-08 09:00"), "actor": "a"}
    )
    refused(apply(state, other), "wrong_case")
    refused(apply(state, ev("accepted", "2026-05-01 09:00")), "illegal")


def test_reports_and_feedback_are_taken_after_the_end() -> None:
    events = [
        ev("accepted", "2026-05-07 09:00"),
        ev("replied", "2026-05-08 09:00"),
        ev("concluded", "2026-05-09 09:00"),
    ]
    state = run(received(), routed(), *events)
    assert run(ev("feedback", "2026-05-10 09:00", satisfied=True), start=state).satisfied is True
    assert run(ev("reported", "2026-05-10 09:00", report="assignment"), start=state).reports == {"assignment"}


def test_handle_routing_is_delivery() -> None:
    result = apply(run(received()), routed(disposition="handle"))
    assert isinstance(result, Transition)
    assert (result.state.stage, result.opens, result.closes) == ("delivered", ("accept",), ("route",))
    confirmed = apply(result.state, ev("delivered", "2026-05-06 10:00"))
    assert isinstance(confirmed, Transition) and confirmed.state.stage == "delivered" and confirmed.opens == ()
    assert run(ev("accepted", "2026-05-07 09:00"), start=result.state).stage == "accepted"
    forwarded = run(received(), routed(disposition="forward"), ev("delivered", "2026-05-07 09:00"))
    refused(apply(forwarded, ev("delivered", "2026-05-08 09:00")), "illegal")
