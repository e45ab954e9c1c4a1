"""The deployment (rules/deployment.yaml) as data: its name, time zone and sensitive periods (敏感期),
and whether a day falls in one. Read by services.common.rules_files."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from zoneinfo import ZoneInfo

from lunardate import LunarDate


@dataclass(frozen=True)
class SensitiveWindow:
    id: str
    name: str
    start: str  # MM-DD or YYYY-MM-DD
    end: str
    calendar: str = "solar"  # "lunar": MM-DD are lunar month and day (春节)


@dataclass(frozen=True)
class Deployment:
    name: str
    timezone: ZoneInfo
    windows: tuple[SensitiveWindow, ...]

    def window_on(self, day: date) -> SensitiveWindow | None:
        return next(
            (window for window in self.windows if in_window(day, window.start, window.end, window.calendar)), None
        )


def in_window(day: date, start: str, end: str, calendar: str = "solar") -> bool:
    """Inclusive window; `MM-DD` bounds repeat every year (and may wrap over the new year). With the
    lunar calendar they are lunar month and day (a leap month counts as the month it repeats)."""
    if len(start) == 10:
        return date.fromisoformat(start) <= day <= date.fromisoformat(end)
    current = lunar_month_day(day) if calendar == "lunar" else day.strftime("%m-%d")
    if current is None:
        return False
    if start <= end:
        return start <= current <= end
    return current >= start or current <= end


def lunar_month_day(day: date) -> str | None:
    """The lunar `MM-DD` of a day, or None outside the years the lunar table covers (1900-2099)."""
    try:
        lunar = LunarDate.from_solar_date(day.year, day.month, day.day)
        if lunar.to_solar_date() != day:  # past the table's end it answers without raising
            return None
    except ValueError:
        return None
    return f"{lunar.month:02d}-{lunar.day:02d}"
