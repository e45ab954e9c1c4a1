"""One demo run, as the operators' integration tests share it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from services.common.settings import Settings
from services.demo.session import Options, Result


@dataclass(frozen=True)
class DemoRun:
    settings: Settings
    options: Options
    result: Result
    started: datetime
    finished: datetime
