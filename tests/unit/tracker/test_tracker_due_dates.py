"""The due-date rule: day counting, the holiday rule, pauses, extensions, working days, hours."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from prometheus_client import REGISTRY
from tracker_helpers import d, local, policies_from

from services.tracker.deadlines import (
    Clock,
    ClockError,
    DeadlinePolicies,
    PolicyError,
    due_for,
)


def test_six_may_plus_fifteen_days_is_twenty_one_may_end_of_day(policies: DeadlinePolicies) -> None:
    due = due_for("route", local("2026-05-06 09:30"), policies.get("standard"))
    assert due.due_date == d("2026-05-21")
    assert due.due_at.isoformat() == "2026-05-21T23:59:59.999999+08:00"
    assert due.moved_from is None


def test_the_start_day_is_the_local_date(policies: DeadlinePolicies) -> None:
    # 16:30 UTC on 5 May is 00:30 on 6 May in Shanghai.
    due = due_for("route", datetime(2026, 5, 5, 16, 30, tzinfo=UTC), policies.get("standard"))
    assert due.due_date == d("2026-05-21")


@pytest.mark.parametrize(
    ("start", "last_day", "due"),
    [
        ("2026-01-31", "2026-02-15", "2026-02-24"),  # Spring Festival 15-23 Feb
        ("2026-02-05", "2026-02-20", "2026-02-24"),
        ("2026-09-16", "2026-10-01", "2026-10-08"),  # National Day 1-7 Oct
        ("2026-09-10", "2026-09-25", "2026-09-28"),  # Mid-Autumn 25-27 Sep
        ("2026-04-21", "2026-05-06", "2026-05-06"),  # an ordinary Wednesday
        ("2026-05-01", "2026-05-16", "2026-05-18"),  # an ordinary Saturday
    ],
)
def test_a_last_day_on_a_rest_day_moves_to_the_next_working_day(
    policies: DeadlinePolicies, start: str, last_day: str, due: str
) -> None:
    result = due_for("accept", local(f"{start} 10:00"), policies.get("standard"))
    assert result.due_date == d(due)
    assert result.moved_from == (None if due == last_day else d(last_day))


@pytest.mark.parametrize("start", ["2026-01-30", "2026-02-13", "2026-09-25"])
def test_a_last_day_on_a_swapped_working_saturday_stays(policies: DeadlinePolicies, start: str) -> None:
    result = due_for("route", local(f"{start} 10:00"), policies.get("standard"))
    assert result.due_date.weekday() == 5
    assert result.moved_from is None
    assert result.due_date in {d("2026-02-14"), d("2026-02-28"), d("2026-10-10")}


def test_extension_adds_its_days(policies: DeadlinePolicies) -> None:
    standard = policies.get("standard")
    assert due_for("handle", local("2026-03-02 09:00"), standard).due_date == d("2026-05-06")
    assert due_for("handle", local("2026-03-02 09:00"), standard, extra_days=30).due_date == d("2026-06-01")
    with pytest.raises(ClockError, match="exceed the policy's maximum of 30"):
        due_for("handle", local("2026-03-02 09:00"), standard, extra_days=31)
    with pytest.raises(ClockError, match="maximum of 0"):
        due_for("accept", local("2026-03-02 09:00"), standard, extra_days=1)


def test_paused_time_is_added_before_the_holiday_rule(policies: DeadlinePolicies) -> None:
    standard = policies.get("standard")
    start = local("2026-09-14 10:00")  # 15 days → 29 Sep (Tue)
    assert due_for("accept", start, standard).due_date == d("2026-09-29")
    # Two days of pause → 1 Oct, a holiday → 8 Oct. Adding after the holiday rule would give 1 Oct.
    two_days = due_for("accept", start, standard, paused=timedelta(days=2))
    assert two_days.due_date == d("2026-10-08")
    assert two_days.moved_from == d("2026-10-01")
    # A started day of pause counts as a day.
    assert due_for("accept", start, standard, paused=timedelta(hours=3)).due_date == d("2026-09-30")
    assert due_for("accept", start, standard, paused=timedelta(days=1, hours=1)).due_date == d("2026-10-08")


def test_limit_from_stages_need_their_limit(policies: DeadlinePolicies) -> None:
    assignment = policies.get("assignment")
    due = due_for("assignment_report", local("2026-05-06 09:00"), assignment, days=10)
    assert due.due_date == d("2026-05-18")  # 16 May is a Saturday
    with pytest.raises(PolicyError, match=r"assignment\.due_days"):
        due_for("assignment_report", local("2026-05-06 09:00"), assignment)
    with pytest.raises(ValueError, match="counted in days"):
        due_for("assignment_report", local("2026-05-06 09:00"), assignment, hours=10)


def test_hour_clocks_run_on_the_clock_through_holidays(policies: DeadlinePolicies) -> None:
    urgent = policies.get("urgent")
    due = due_for("urgent_report", local("2026-09-30 20:00"), urgent, hours=24)
    assert due.due_at == local("2026-10-01 20:00")
    assert due.due_date == d("2026-10-01")
    paused = due_for("urgent_report", local("2026-09-30 20:00"), urgent, hours=2, paused=timedelta(minutes=30))
    assert paused.due_at == local("2026-09-30 22:30")
    with pytest.raises(ValueError, match="counted in hours"):
        due_for("urgent_report", local("2026-09-30 20:00"), urgent, days=1)


def test_working_day_policy() -> None:
    pols = policies_from("  wd:\n    accept: {limit: 15, calendar: working_days}\n")
    due = due_for("accept", local("2026-05-06 09:00"), pols.get("wd"))
    assert due.due_date == d("2026-05-26")  # 9 May is a working Saturday and counts
    # Over Spring Festival: 14 Feb (working Saturday) is day 1, 24 Feb day 2, 28 Feb (Saturday) day 6.
    assert due_for("accept", local("2026-02-13 09:00"), pols.get("wd")).due_date == d("2026-03-12")


def test_a_fallback_year_is_used_and_counted() -> None:
    pols = policies_from("  p:\n    route: {limit: 15}\n")
    before = REGISTRY.get_sample_value("xf_calendar_fallback_total", {"year": "2027"}) or 0.0
    # 17 Dec 2026 + 15 = 1 Jan 2027: listed fallback holiday, then a weekend → Monday 4 Jan.
    due = due_for("route", local("2026-12-17 09:00"), pols.get("p"))
    assert due.due_date == d("2027-01-04")
    assert (REGISTRY.get_sample_value("xf_calendar_fallback_total", {"year": "2027"}) or 0.0) > before


def test_naive_start_is_refused(policies: DeadlinePolicies) -> None:
    with pytest.raises(ValueError, match="UTC offset"):
        due_for("route", datetime(2026, 5, 6, 9), policies.get("standard"))


# --- the Clock -------------------------------------------------------------------------------------


def test_clock_records_every_pause(policies: DeadlinePolicies) -> None:
    clock = Clock.start("handle", local("2026-03-02 09:00"), policies.get("standard"))
    clock = clock.pause(local("2026-03-10 09:00"), "hearing").resume(local("2026-03-12 09:00"))
    clock = clock.pause(local("2026-03-20 09:00"), "awaiting_material")
    assert [p.reason for p in clock.pauses] == ["hearing", "awaiting_material"]
    assert clock.is_paused(local("2026-03-21 09:00"))
    # 2 Mar + 60 = 1 May. Open pause: the due date moves with `at`: 2 + 1 paused days → 4 May,
    # inside the Labour Day holiday (1-5 May) → 6 May.
    assert clock.due(local("2026-03-21 09:00")).due_date == d("2026-05-06")
    assert clock.status(local("2026-03-21 09:00")) == "paused"
    with pytest.raises(ClockError, match="already paused"):
        clock.pause(local("2026-03-22 09:00"), "other")
    with pytest.raises(ClockError, match="due date depends on `at`"):
        clock.due()
    clock = clock.resume(local("2026-03-25 09:00"))
    with pytest.raises(ClockError, match="not paused"):
        clock.resume(local("2026-03-26 09:00"))
    assert clock.paused_total(local("2026-04-01 00:00")) == timedelta(days=7)
    assert clock.due().due_date == d("2026-05-08")  # 1 May + 7


def test_clock_extension_rules(policies: DeadlinePolicies) -> None:
    clock = Clock.start("handle", local("2026-03-02 09:00"), policies.get("standard"))
    with pytest.raises(ClockError, match="needs a reason"):
        clock.extend(10, " ", "150627:petition", local("2026-04-01 09:00"))
    with pytest.raises(ClockError, match="needs an approver"):
        clock.extend(10, "complex", "", local("2026-04-01 09:00"))
    with pytest.raises(ClockError, match="exceed the maximum of 30"):
        clock.extend(31, "complex", "150627:petition", local("2026-04-01 09:00"))
    extended = clock.extend(30, "complex", "150627:petition", local("2026-04-01 09:00"))
    assert extended.due().due_date == d("2026-06-01")  # 60 + 30 days from 2 Mar
    assert extended.extensions[0].approved_by == "150627:petition"
    with pytest.raises(ClockError, match="at most 1 extension"):
        extended.extend(1, "again", "150627:petition", local("2026-04-02 09:00"))
    accept = Clock.start("accept", local("2026-03-02 09:00"), policies.get("standard"))
    with pytest.raises(ClockError, match="cannot be extended"):
        accept.extend(5, "complex", "150627:petition", local("2026-03-03 09:00"))


def test_clock_extension_bound_across_several_extensions() -> None:
    pols = policies_from("  p:\n    handle: {limit: 60, max_extension_days: 30, max_extensions: 2}\n")
    clock = Clock.start("handle", local("2026-03-02 09:00"), pols.get("p"))
    clock = clock.extend(20, "a", "u", local("2026-03-03 09:00"))
    with pytest.raises(ClockError, match=r"would exceed the maximum of 30 \(already 20\)"):
        clock.extend(11, "b", "u", local("2026-03-04 09:00"))
    assert clock.extend(10, "b", "u", local("2026-03-04 09:00")).extension_days == 30


def test_statuses_and_warning_lead(policies: DeadlinePolicies) -> None:
    clock = Clock.start("route", local("2026-05-06 09:00"), policies.get("standard"))  # due 21 May
    assert clock.status(local("2026-05-06 08:59")) == "pending"
    assert clock.status(local("2026-05-18 23:59")) == "open"
    assert clock.status(local("2026-05-19 00:00")) == "due_soon"  # 3 days left: 19, 20, 21
    assert clock.status(local("2026-05-21 23:59")) == "due_soon"
    assert clock.status(local("2026-05-22 00:00")) == "overdue"
    assert clock.complete(local("2026-05-21 23:00")).status(local("2026-06-01 00:00")) == "met"
    late = clock.complete(local("2026-05-22 08:00"))
    assert late.status(local("2026-06-01 00:00")) == "late"
    # Completion after `at` is not known yet at `at`.
    assert late.status(local("2026-05-20 00:00")) == "due_soon"


def test_working_day_warning_counts_working_days() -> None:
    pols = policies_from("  wd:\n    accept: {limit: 15, calendar: working_days}\n")
    clock = Clock.start("accept", local("2026-05-06 09:00"), pols.get("wd"))  # due Tue 26 May
    # The last three working days are 22 (Fri), 25 (Mon), 26 (Tue) May.
    assert clock.status(local("2026-05-21 23:00")) == "open"
    assert clock.status(local("2026-05-22 00:00")) == "due_soon"


def test_hour_clock_warning(policies: DeadlinePolicies) -> None:
    clock = Clock.start("urgent_report", local("2026-03-05 10:00"), policies.get("urgent"), limit=6)
    assert clock.status(local("2026-03-05 13:59")) == "open"
    assert clock.status(local("2026-03-05 14:00")) == "due_soon"
    assert clock.status(local("2026-03-05 16:00:01")) == "overdue"


def test_windows_lapse_as_met_and_never_escalate(policies: DeadlinePolicies) -> None:
    window = Clock.start("review_window", local("2026-06-01 10:00"), policies.get("standard"))  # due 1 Jul
    at = local("2026-08-01 00:00")
    assert window.status(at) == "met"
    assert window.completed_as_of(at) == window.due().due_at
    assert window.escalation_level(at) == 0
    assert window.complete(local("2026-07-02 09:00")).status(at) == "late"


def test_escalation_ladder(policies: DeadlinePolicies) -> None:
    clock = Clock.start("route", local("2026-05-06 09:00"), policies.get("standard"))  # due 21 May
    assert clock.escalation_level(local("2026-05-21 23:00")) == 0
    assert clock.escalation_level(local("2026-05-22 00:00")) == 1  # supervising unit
    assert clock.escalation_level(local("2026-06-05 23:59")) == 1  # within the first 15-day window
    assert clock.escalation_level(local("2026-06-06 00:00")) == 2  # one more level
    assert clock.escalation_level(local("2026-12-31 00:00")) == 2  # capped at the ladder's levels
    done = clock.complete(local("2026-05-25 00:00"))
    assert done.escalation_level(local("2026-12-31 00:00")) == 1  # frozen at completion


def test_clock_records_its_policy_version(policies: DeadlinePolicies) -> None:
    clock = Clock.start("route", local("2026-05-06 09:00"), policies.get("standard"))
    assert clock.policy_version == policies.get("standard").version
