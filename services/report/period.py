"""Report periods: a month (2026-10), a quarter (2026-Q4), a year (2026) or dates (2026-10-01..2026-10-15).
Both ends are local dates of the deployment and both are included, as in tracker.period_statistics."""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date, timedelta

_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
_QUARTER = re.compile(r"^(\d{4})-[Qq]([1-4])$")
_YEAR = re.compile(r"^(\d{4})$")
_RANGE = re.compile(r"^(\d{4}-\d{2}-\d{2})\.\.(\d{4}-\d{2}-\d{2})$")


class PeriodError(ValueError):
    pass


@dataclass(frozen=True)
class Period:
    label: str  # as given, normalised: 2026-10, 2026-Q4, 2026, 2026-10-01..2026-10-15
    first: date
    last: date

    @property
    def days(self) -> int:
        return (self.last - self.first).days + 1

    def previous(self) -> Period:
        """The period just before, of the same kind: the month, quarter or year before, or as many days."""
        if _MONTH.match(self.label):
            last = self.first - timedelta(days=1)
            return parse_period(f"{last.year:04d}-{last.month:02d}")
        if _QUARTER.match(self.label):
            last = self.first - timedelta(days=1)
            return parse_period(f"{last.year:04d}-Q{(last.month - 1) // 3 + 1}")
        if _YEAR.match(self.label):
            return parse_period(f"{self.first.year - 1:04d}")
        last = self.first - timedelta(days=1)
        first = last - timedelta(days=self.days - 1)
        return Period(f"{first.isoformat()}..{last.isoformat()}", first, last)


def _month_end(year: int, month: int) -> date:
    return date(year, month, calendar.monthrange(year, month)[1])


def parse_period(text: str, today: date | None = None) -> Period:
    """`last-month` is the month before `today` (the deployment's local date, given by the caller)."""
    text = text.strip()
    if text == "last-month":
        if today is None:
            raise PeriodError("last-month: needs today's date")
        last = today.replace(day=1) - timedelta(days=1)
        text = f"{last.year:04d}-{last.month:02d}"
    try:
        if match := _MONTH.match(text):
            year, month = int(match.group(1)), int(match.group(2))
            return Period(f"{year:04d}-{month:02d}", date(year, month, 1), _month_end(year, month))
        if match := _QUARTER.match(text):
            year, quarter = int(match.group(1)), int(match.group(2))
            first_month = 3 * (quarter - 1) + 1
            return Period(f"{year:04d}-Q{quarter}", date(year, first_month, 1), _month_end(year, first_month + 2))
        if match := _YEAR.match(text):
            year = int(match.group(1))
            return Period(f"{year:04d}", date(year, 1, 1), date(year, 12, 31))
        if match := _RANGE.match(text):
            first, last = date.fromisoformat(match.group(1)), date.fromisoformat(match.group(2))
            if last < first:
                raise PeriodError(f"{text}: the period ends before it starts")
            return Period(f"{first.isoformat()}..{last.isoformat()}", first, last)
    except ValueError as error:
        if isinstance(error, PeriodError):
            raise
        raise PeriodError(f"{text}: {error}") from None
    raise PeriodError(f"{text}: expected YYYY-MM, YYYY-Qn, YYYY, YYYY-MM-DD..YYYY-MM-DD or last-month")
