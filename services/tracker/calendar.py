"""The working-day calendar: official Chinese holidays and swapped working days (调休).

The official data (chinese-calendar) is published a year at a time. A year it does not cover falls
back to weekends plus the holidays (and swapped working days) listed in rules/deadlines.yaml, and
every date computation that relied on the fallback is logged and counted in
`xf_calendar_fallback_total{year}` instead of silently guessing.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta

import chinese_calendar
from prometheus_client import Counter

log = logging.getLogger(__name__)

CALENDAR_FALLBACK = Counter(
    "xf_calendar_fallback",
    "Date computations that used the rule file's fallback holidays (no official calendar for the year)",
    ["year"],
)

# Longest run of consecutive rest days we accept before assuming broken data (Spring Festival
# with adjacent weekends is 9-10 days).
_MAX_REST_RUN = 60


@dataclass(frozen=True)
class FallbackYear:
    """Rest and working days of a year the official calendar does not know yet."""

    holidays: frozenset[date] = frozenset()
    working_days: frozenset[date] = frozenset()


@dataclass
class WorkCalendar:
    """Answers "is this a working day" and counts working days, official data first."""

    fallback: Mapping[int, FallbackYear] = field(default_factory=dict)
    _warned_years: set[int] = field(default_factory=set, repr=False, compare=False)
    # Answers from the official data, which never change for a given day (the fallback is not cached,
    # so that every use of it is still counted).
    _official: dict[date, bool] = field(default_factory=dict, repr=False, compare=False)

    def has_official_data(self, year: int) -> bool:
        try:
            chinese_calendar.is_workday(date(year, 6, 1))
        except NotImplementedError:
            return False
        return True

    def is_working_day(self, day: date) -> bool:
        used: set[int] = set()
        result = self._is_working(day, used)
        self._report(used)
        return result

    def roll_forward(self, day: date) -> date:
        """`day` itself if it is a working day, else the next working day."""
        used: set[int] = set()
        current = day
        for _ in range(_MAX_REST_RUN):
            if self._is_working(current, used):
                self._report(used)
                return current
            current += timedelta(days=1)
        self._report(used)
        raise ValueError(f"no working day within {_MAX_REST_RUN} days after {day.isoformat()}")

    def next_working_day(self, day: date) -> date:
        """The first working day strictly after `day`."""
        return self.roll_forward(day + timedelta(days=1))

    def add_working_days(self, start: date, count: int) -> date:
        """The `count`-th working day after `start` (the start day itself is not counted)."""
        return self._count_working_days(start, count, timedelta(days=1), "after")

    def sub_working_days(self, end: date, count: int) -> date:
        """The `count`-th working day before `end` (`end` itself if count is 0)."""
        return self._count_working_days(end, count, timedelta(days=-1), "before")

    def _count_working_days(self, origin: date, count: int, step: timedelta, direction: str) -> date:
        if count < 0:
            raise ValueError("count must be >= 0")
        used: set[int] = set()
        current = origin
        remaining = count
        rest_run = 0
        while remaining > 0:
            current += step
            if self._is_working(current, used):
                remaining -= 1
                rest_run = 0
            else:
                rest_run += 1
                if rest_run > _MAX_REST_RUN:
                    raise ValueError(f"no working day within {_MAX_REST_RUN} days {direction} {current}")
        self._report(used)
        return current

    def working_days_between(self, start: date, end: date) -> int:
        """Working days in (start, end]: the start day is not counted, the end day is."""
        used: set[int] = set()
        count = 0
        current = start
        while current < end:
            current += timedelta(days=1)
            if self._is_working(current, used):
                count += 1
        self._report(used)
        return count

    def _is_working(self, day: date, used: set[int]) -> bool:
        known = self._official.get(day)
        if known is not None:
            return known
        try:
            working = bool(chinese_calendar.is_workday(day))
        except NotImplementedError:
            pass
        else:
            self._official[day] = working
            return working
        used.add(day.year)
        year = self.fallback.get(day.year, FallbackYear())
        if day in year.working_days:
            return True
        if day in year.holidays:
            return False
        return day.weekday() < 5

    def _report(self, years: Iterable[int]) -> None:
        for year in years:
            CALENDAR_FALLBACK.labels(year=str(year)).inc()
            if year not in self._warned_years:
                self._warned_years.add(year)
                listed = "listed" if year in self.fallback else "NOT listed"
                log.warning(
                    "no official holiday calendar for %d: using weekends plus the rule file's fallback "
                    "holidays (year %s in rules/deadlines.yaml); deadlines in %d may move once the "
                    "official arrangement is published",
                    year,
                    listed,
                    year,
                )
