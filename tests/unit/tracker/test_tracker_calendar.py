"""The official calendar, swapped working days, working-day counting and the fallback year."""

from __future__ import annotations

import logging

import chinese_calendar
import pytest
from prometheus_client import REGISTRY
from tracker_helpers import d

from services.tracker.calendar import FallbackYear, WorkCalendar

SPRING_FESTIVAL_2026 = [d("2026-02-15"), *(d(f"2026-02-{n}") for n in range(16, 24))]
NATIONAL_DAY_2026 = [d(f"2026-10-0{n}") for n in range(1, 8)]
SWAPPED_WORKING_DAYS_2026 = [
    d(day) for day in ("2026-01-04", "2026-02-14", "2026-02-28", "2026-05-09", "2026-09-20", "2026-10-10")
]


def fallback_count(year: int) -> float:
    return REGISTRY.get_sample_value("xf_calendar_fallback_total", {"year": str(year)}) or 0.0


def test_the_2026_dates_are_what_chinese_calendar_publishes() -> None:
    holidays = {day for day in chinese_calendar.constants.holidays if day.year == 2026}
    workdays = {day for day in chinese_calendar.constants.workdays if day.year == 2026}
    assert set(SPRING_FESTIVAL_2026) <= holidays
    assert set(NATIONAL_DAY_2026) <= holidays
    assert workdays == set(SWAPPED_WORKING_DAYS_2026)
    # The swapped working days fall on weekends: that is what makes them interesting.
    assert all(day.weekday() >= 5 for day in SWAPPED_WORKING_DAYS_2026)


@pytest.mark.parametrize("day", SPRING_FESTIVAL_2026 + NATIONAL_DAY_2026)
def test_official_holidays_are_rest_days(day: object) -> None:
    assert WorkCalendar().is_working_day(day) is False  # type: ignore[arg-type]


@pytest.mark.parametrize("day", SWAPPED_WORKING_DAYS_2026)
def test_swapped_weekend_days_are_working_days(day: object) -> None:
    assert WorkCalendar().is_working_day(day) is True  # type: ignore[arg-type]


def test_ordinary_weekend_and_weekday() -> None:
    cal = WorkCalendar()
    assert cal.is_working_day(d("2026-05-16")) is False  # Saturday
    assert cal.is_working_day(d("2026-05-18")) is True  # Monday


def test_roll_forward_and_next_working_day() -> None:
    cal = WorkCalendar()
    assert cal.roll_forward(d("2026-02-15")) == d("2026-02-24")
    assert cal.roll_forward(d("2026-10-01")) == d("2026-10-08")
    assert cal.roll_forward(d("2026-02-14")) == d("2026-02-14")  # working Saturday
    assert cal.roll_forward(d("2026-05-17")) == d("2026-05-18")  # Sunday
    assert cal.next_working_day(d("2026-02-13")) == d("2026-02-14")
    assert cal.next_working_day(d("2026-09-30")) == d("2026-10-08")


def test_working_day_counting_skips_holidays_and_counts_swapped_saturdays() -> None:
    cal = WorkCalendar()
    # 6 May 2026 (Wed) + 15 working days: 9 May is a working Saturday.
    assert cal.add_working_days(d("2026-05-06"), 15) == d("2026-05-26")
    assert cal.add_working_days(d("2026-02-13"), 1) == d("2026-02-14")
    assert cal.add_working_days(d("2026-02-14"), 1) == d("2026-02-24")
    assert cal.add_working_days(d("2026-05-06"), 0) == d("2026-05-06")
    assert cal.working_days_between(d("2026-05-06"), d("2026-05-26")) == 15
    assert cal.sub_working_days(d("2026-02-24"), 1) == d("2026-02-14")
    assert cal.sub_working_days(d("2026-05-26"), 15) == d("2026-05-06")


def test_fallback_year_uses_weekends_and_rule_holidays_and_reports_it(caplog: pytest.LogCaptureFixture) -> None:
    cal = WorkCalendar({2027: FallbackYear(holidays=frozenset({d("2027-01-01"), d("2027-10-01")}))})
    assert not cal.has_official_data(2027)
    assert cal.has_official_data(2026)
    before = fallback_count(2027)
    with caplog.at_level(logging.WARNING, logger="services.tracker.calendar"):
        assert cal.is_working_day(d("2027-01-01")) is False  # listed holiday (a Friday)
        assert cal.is_working_day(d("2027-01-04")) is True  # Monday
        assert cal.is_working_day(d("2027-01-02")) is False  # Saturday
        assert cal.roll_forward(d("2027-10-01")) == d("2027-10-04")
    assert fallback_count(2027) == before + 4
    warnings = [r for r in caplog.records if "no official holiday calendar for 2027" in r.getMessage()]
    assert len(warnings) == 1  # once per calendar and year, not per lookup


def test_fallback_working_days_override_weekends() -> None:
    cal = WorkCalendar({2027: FallbackYear(working_days=frozenset({d("2027-02-20")}))})
    assert d("2027-02-20").weekday() == 5
    assert cal.is_working_day(d("2027-02-20")) is True


def test_official_years_do_not_touch_the_counter() -> None:
    before = fallback_count(2026)
    WorkCalendar().add_working_days(d("2026-03-02"), 40)
    assert fallback_count(2026) == before
