"""One demo run, as the operators' integration tests share it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from services.common.settings import Settings
from services.demo.session import Options, Result


@dataclass(frozen=True)
class DemoRun:
    settings: Settings
    options: Options
    result: Result
    started: datetime
    finished: datetime


def previous_month(run: DemoRun) -> str:
    """The last whole month: the demo back-dates cases into it."""
    today = datetime.now(UTC).astimezone(ZoneInfo(run.settings.timezone))
    return f"{today.year - 1}-12" if today.month == 1 else f"{today.year}-{today.month - 1:02d}"
