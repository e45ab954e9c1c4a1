"""Timeline evaluation: which stage starts and ends when, and the status of each at an instant."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import pytest
from tracker_helpers import DATA, local

from services.tracker.deadlines import (
    DeadlinePolicies,
    PolicyError,
    StageStatus,
    Timeline,
    TimelineError,
    evaluate_timeline,
    policy_for,
)

RECEIVED = "2026-05-06T09:00:00+08:00"


def timeline(*events: tuple[str, str] | dict[str, Any], **extra: Any) -> Timeline:
    body: dict[str, Any] = {"case_id": "C-1", "received_at": RECEIVED, "channel": "letter", **extra}
    body["events"] = [{"type": e[0], "at": e[1] + ":00+08:00"} if isinstance(e, tuple) else e for e in events]
    return Timeline.model_validate(body)


def run(tl: Timeline, at: str, policies: DeadlinePolicies, policy: str | None = None) -> dict[str, StageStatus]:
    stages = evaluate_timeline(tl, local(at), policies, policy or policy_for(tl))
    return {s.stage: s for s in stages}


def summary(stages: dict[str, StageStatus]) -> dict[str, tuple[str, str]]:
    return {name: (s.due_date.isoformat(), s.status) for name, s in stages.items()}


def test_only_route_runs_after_receipt(policies: DeadlinePolicies) -> None:
    stages = run(timeline(), "2026-05-10 09:00", policies)
    assert summary(stages) == {"route": ("2026-05-21", "open")}
    assert stages["route"].completed_at is None


def test_a_clock_that_starts_after_at_is_pending(policies: DeadlinePolicies) -> None:
    assert summary(run(timeline(), "2026-05-01 09:00", policies)) == {"route": ("2026-05-21", "pending")}


def test_routed_ends_route_and_delivered_starts_accept(policies: DeadlinePolicies) -> None:
    stages = run(
        timeline(("routed", "2026-05-06T10:00"), ("delivered", "2026-05-11T09:00")), "2026-05-12 00:00", policies
    )
    assert stages["route"].completed_at == local("2026-05-06 10:00")
    assert stages["route"].status == "met"
    assert stages["accept"].started_at == local("2026-05-11 09:00")
    assert summary(stages)["accept"] == ("2026-05-26", "open")


def test_delivered_alone_ends_route(policies: DeadlinePolicies) -> None:
    stages = run(timeline(("delivered", "2026-05-25T09:00")), "2026-05-26 00:00", policies)
    assert stages["route"].status == "late"
    assert stages["route"].completed_at == local("2026-05-25 09:00")


def test_acceptance_without_a_recorded_delivery_implies_it(policies: DeadlinePolicies) -> None:
    stages = run(
        timeline(("routed", "2026-05-07T09:00"), ("accepted", "2026-05-10T09:00")), "2026-05-11 00:00", policies
    )
    assert stages["accept"].started_at == local("2026-05-07 09:00")  # when routing ended
    assert stages["accept"].status == "met"
    assert stages["handle"].started_at == local("2026-05-10 09:00")


def test_the_whole_main_line(policies: DeadlinePolicies) -> None:
    tl = timeline(
        ("delivered", "2026-05-08T10:00"),
        ("accepted", "2026-05-20T09:00"),
        ("replied", "2026-07-01T09:00"),
        ("review_requested", "2026-07-10T09:00"),
        ("reviewed", "2026-08-01T09:00"),
        ("rereview_requested", "2026-08-20T09:00"),
        ("rereviewed", "2026-09-30T09:00"),
        ("concluded", "2026-10-09T09:00"),
    )
    stages = run(tl, "2026-12-01 00:00", policies)
    assert list(stages) == ["route", "accept", "handle", "review_window", "review", "rereview_window", "rereview"]
    assert summary(stages) == {
        "route": ("2026-05-21", "met"),
        "accept": ("2026-05-25", "met"),  # 23 May is a Saturday
        "handle": ("2026-07-20", "met"),  # 19 Jul is a Sunday
        "review_window": ("2026-07-31", "met"),
        "review": ("2026-08-10", "met"),  # 9 Aug is a Sunday
        "rereview_window": ("2026-08-31", "met"),
        "rereview": ("2026-09-20", "late"),  # 19 Sep Sat → 20 Sep, a working Sunday (调休)
    }


def test_rereview_due_on_a_working_sunday(policies: DeadlinePolicies) -> None:
    tl = timeline(
        ("delivered", "2026-05-08T10:00"),
        ("accepted", "2026-05-09T09:00"),
        ("replied", "2026-06-01T09:00"),
        ("review_requested", "2026-06-02T09:00"),
        ("reviewed", "2026-06-03T09:00"),
        ("rereview_requested", "2026-08-21T09:00"),
    )
    stages = run(tl, "2026-09-19 12:00", policies)
    assert summary(stages)["rereview"] == ("2026-09-20", "due_soon")  # 20 Sep 2026 (Sunday) is a working day
    assert summary(stages)["rereview_window"] == ("2026-07-03", "late")


def test_a_window_with_no_request_lapses_as_met(policies: DeadlinePolicies) -> None:
    tl = timeline(("delivered", "2026-05-08T10:00"), ("accepted", "2026-05-09T09:00"), ("replied", "2026-06-01T09:00"))
    before = run(tl, "2026-06-29 09:00", policies)["review_window"]
    assert (before.status, before.completed_at) == ("due_soon", None)  # due 1 Jul
    after = run(tl, "2026-07-05 09:00", policies)["review_window"]
    assert after.status == "met"
    assert after.completed_at == after.due_at


def test_pause_and_resume_move_the_handle_due(policies: DeadlinePolicies) -> None:
    tl = timeline(
        ("delivered", "2026-05-08T10:00"),
        ("accepted", "2026-05-20T09:00"),
        {"type": "paused", "at": "2026-06-01T09:00:00+08:00", "reason": "hearing"},
        ("resumed", "2026-06-04T09:00"),
    )
    assert summary(run(tl, "2026-06-02 09:00", policies))["handle"] == ("2026-07-20", "paused")
    # 19 Jul + 3 paused days = 22 Jul (Wed).
    assert summary(run(tl, "2026-06-10 09:00", policies))["handle"] == ("2026-07-22", "open")


def test_extension_in_a_timeline_and_its_bound(policies: DeadlinePolicies) -> None:
    ext = {"type": "extended", "at": "2026-07-01T09:00:00+08:00", "days": 30, "reason": "r", "approved_by": "u"}
    tl = timeline(("delivered", "2026-05-08T10:00"), ("accepted", "2026-05-20T09:00"), ext)
    assert summary(run(tl, "2026-07-02 09:00", policies))["handle"] == ("2026-08-18", "open")  # 20 May + 90
    second = {**ext, "at": "2026-07-02T09:00:00+08:00", "days": 1}
    with pytest.raises(TimelineError, match=r"events\[3\] \(extended\): handle: at most 1 extension"):
        run(
            timeline(("delivered", "2026-05-08T10:00"), ("accepted", "2026-05-20T09:00"), ext, second),
            "2026-08-01 00:00",
            policies,
        )
    too_long = {**ext, "days": 31}
    with pytest.raises(TimelineError, match="exceed the maximum of 30"):
        run(
            timeline(("delivered", "2026-05-08T10:00"), ("accepted", "2026-05-20T09:00"), too_long),
            "2026-08-01 00:00",
            policies,
        )
    unapproved = {k: v for k, v in ext.items() if k != "approved_by"}
    with pytest.raises(TimelineError, match="needs an approver"):
        run(
            timeline(("delivered", "2026-05-08T10:00"), ("accepted", "2026-05-20T09:00"), unapproved),
            "2026-08-01 00:00",
            policies,
        )


def test_reassignment_restarts_accept_for_the_new_unit(policies: DeadlinePolicies) -> None:
    tl = timeline(
        ("delivered", "2026-05-08T10:00"),
        ("accepted", "2026-05-10T09:00"),
        {"type": "reassigned", "at": "2026-05-15T09:00:00+08:00", "unit": "150627:housing"},
    )
    stages = run(tl, "2026-05-16 09:00", policies)
    assert "handle" not in stages
    assert stages["accept"].started_at == local("2026-05-15 09:00")
    assert summary(stages)["accept"] == ("2026-06-01", "open")  # 30 May is a Saturday


def test_rejection_ends_accept_and_the_case(policies: DeadlinePolicies) -> None:
    tl = timeline(
        ("delivered", "2026-05-08T10:00"), {"type": "rejected", "at": "2026-05-12T09:00:00+08:00", "reason": "x"}
    )
    assert summary(run(tl, "2026-06-01 09:00", policies)) == {
        "route": ("2026-05-21", "met"),
        "accept": ("2026-05-25", "met"),
    }
    with pytest.raises(TimelineError, match="already ended"):
        rejected = {"type": "rejected", "at": "2026-05-12T09:00:00+08:00"}
        run(
            timeline(("delivered", "2026-05-08T10:00"), rejected, ("accepted", "2026-05-13T09:00")),
            "2026-06-01",
            policies,
        )


def test_withdrawal_stops_every_running_clock(policies: DeadlinePolicies) -> None:
    tl = timeline(
        ("delivered", "2026-05-08T10:00"), ("accepted", "2026-05-10T09:00"), ("withdrawn", "2026-08-01T09:00")
    )
    stages = run(tl, "2026-09-01 09:00", policies)
    assert stages["handle"].completed_at == local("2026-08-01 09:00")
    assert stages["handle"].status == "late"  # due 9 Jul
    assert stages["handle"].escalation_level == 2


def test_assignment_report_uses_due_days(policies: DeadlinePolicies) -> None:
    tl = timeline(
        ("delivered", "2026-05-08T10:00"),
        ("accepted", "2026-05-09T09:00"),
        channel="assignment",
        assignment={"from_unit": "150600:petition", "due_days": 10},
    )
    assert policy_for(tl) == "assignment"
    stages = run(tl, "2026-05-15 09:00", policies)
    assert summary(stages)["assignment_report"] == ("2026-05-18", "due_soon")  # 16 May Sat; warning 5
    assert summary(run(tl, "2026-05-19 00:00", policies))["assignment_report"] == ("2026-05-18", "overdue")
    reported = timeline(
        ("delivered", "2026-05-08T10:00"),
        {"type": "reported", "report": "assignment", "at": "2026-05-12T09:00:00+08:00"},
        channel="assignment",
        assignment={"from_unit": "150600:petition", "due_days": 10},
    )
    assert summary(run(reported, "2026-05-19 00:00", policies))["assignment_report"] == ("2026-05-18", "met")


def test_assignment_channel_without_due_days_is_refused(policies: DeadlinePolicies) -> None:
    with pytest.raises(TimelineError, match=r"assignment.due_days: required"):
        run(timeline(channel="assignment"), "2026-05-15 09:00", policies)


def test_urgent_report_in_hours(policies: DeadlinePolicies) -> None:
    tl = timeline(("routed", "2026-05-06T09:01"), report_within_hours=4)
    assert policy_for(tl) == "urgent"
    stages = run(tl, "2026-05-06 11:30", policies)
    assert stages["urgent_report"].due_at == local("2026-05-06 13:00")
    assert stages["urgent_report"].status == "due_soon"
    assert run(tl, "2026-05-06 13:01", policies)["urgent_report"].status == "overdue"
    report = {"type": "reported", "report": "urgent", "at": "2026-05-06T12:00:00+08:00"}
    done = timeline(("routed", "2026-05-06T09:01"), report, report_within_hours=4)
    assert run(done, "2026-05-07 00:00", policies)["urgent_report"].status == "met"


def test_report_hours_from_a_routed_event(policies: DeadlinePolicies) -> None:
    tl = timeline(
        {"type": "routed", "at": "2026-05-06T09:01:00+08:00", "report_within_hours": 2, "deadline_policy": "urgent"}
    )
    assert policy_for(tl) == "urgent"
    assert run(tl, "2026-05-06 10:00", policies)["urgent_report"].due_at == local("2026-05-06 11:00")


def test_a_stage_the_policy_does_not_define_is_an_error(policies: DeadlinePolicies) -> None:
    tl = timeline(report_within_hours=4)
    with pytest.raises(PolicyError, match="'standard' has no settings for stage 'urgent_report'"):
        run(tl, "2026-05-06 10:00", policies, policy="standard")


def test_events_after_at_are_not_known_yet(policies: DeadlinePolicies) -> None:
    tl = timeline(("delivered", "2026-05-08T10:00"), ("accepted", "2026-05-20T09:00"))
    stages = run(tl, "2026-05-10 09:00", policies)
    assert list(stages) == ["route", "accept"]
    assert stages["accept"].status == "open"


def test_events_are_taken_in_time_order(policies: DeadlinePolicies) -> None:
    tl = timeline(("accepted", "2026-05-20T09:00"), ("delivered", "2026-05-08T10:00"))
    assert run(tl, "2026-05-21 09:00", policies)["accept"].started_at == local("2026-05-08 10:00")


@pytest.mark.parametrize(
    ("events", "message"),
    [
        (
            [("delivered", "2026-05-08T10:00"), ("replied", "2026-05-20T09:00")],
            r"events\[1\] \(replied\): needs accepted first",
        ),
        ([("review_requested", "2026-05-20T09:00")], "needs replied first"),
        ([("resumed", "2026-05-20T09:00")], "no running unit-side stage"),
        ([("delivered", "2026-05-08T10:00"), ("resumed", "2026-05-20T09:00")], "accept: not paused"),
        ([("accepted", "2026-05-04T09:00")], "before the case was received"),
        ([{"type": "reported", "at": "2026-05-08T10:00:00+08:00"}], "report: required"),
    ],
)
def test_inconsistent_timelines_name_the_event(policies: DeadlinePolicies, events: list[Any], message: str) -> None:
    with pytest.raises(TimelineError, match=message):
        run(timeline(*events), "2026-06-01 09:00", policies)


def test_sample_file_matches_expected_output(policies: DeadlinePolicies) -> None:
    from services.tracker.deadlines import timeline_json

    tl = Timeline.model_validate_json((DATA / "standard_full.json").read_text(encoding="utf-8"))
    at = datetime.fromisoformat("2026-10-14T12:00:00+08:00")
    out = timeline_json(tl, evaluate_timeline(tl, at, policies, policy_for(tl)), policies.timezone)
    assert out == json.loads((DATA / "standard_full.expected.json").read_text(encoding="utf-8"))


def test_handle_and_ending_dispositions_in_a_timeline(policies: DeadlinePolicies) -> None:
    handled = {"type": "routed", "at": "2026-05-06T10:00:00+08:00", "disposition": "handle"}
    stages = run(timeline(handled), "2026-05-07 00:00", policies)
    assert (stages["route"].status, stages["accept"].started_at) == ("met", local("2026-05-06 10:00"))
    merged = {"type": "routed", "at": "2026-05-06T10:00:00+08:00", "disposition": "merge"}
    assert summary(run(timeline(merged), "2026-06-01 00:00", policies)) == {"route": ("2026-05-21", "met")}
    with pytest.raises(TimelineError, match="already ended"):
        run(timeline(merged, ("accepted", "2026-05-08T09:00")), "2026-06-01 00:00", policies)
