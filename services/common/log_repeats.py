"""Repeated log lines held back: while a dependency is down, its client libraries (aiokafka above all)
log the same warning thousands of times a second.

`RepeatFilter` lets through, per (logger, level, message template), `burst` records every `interval`
seconds; the rest are counted, and the next record let through says how many like it were held back.
It only touches WARNING and above: INFO lines of the services' own work are never held back.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

MAX_KEYS = 10_000


@dataclass
class _Window:
    started: float
    passed: int = 0
    held: int = 0


class RepeatFilter(logging.Filter):
    def __init__(self, interval: float = 10.0, burst: int = 5, *, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self.interval = interval
        self.burst = burst
        self.clock = clock
        self._windows: dict[tuple[str, int, str], _Window] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING:
            return True
        key = (record.name, record.levelno, str(record.msg))
        now = self.clock()
        window = self._windows.get(key)
        if window is None or now - window.started >= self.interval:
            held = window.held if window is not None else 0
            if window is None and len(self._windows) >= MAX_KEYS:
                self._windows.clear()
            window = self._windows[key] = _Window(now)
            if held:
                record.msg = f"{record.msg} [{held} more like this held back in the last {self.interval:g}s]"
        if window.passed >= self.burst:
            window.held += 1
            return False
        window.passed += 1
        return True


def install(interval: float, burst: int) -> RepeatFilter:
    """The filter on every handler of the root logger (a logger's own filters miss its children's records)."""
    repeat = RepeatFilter(interval, burst)
    for handler in logging.getLogger().handlers:
        for old in [f for f in handler.filters if isinstance(f, RepeatFilter)]:  # installed twice: once
            handler.removeFilter(old)
        handler.addFilter(repeat)
    return repeat
