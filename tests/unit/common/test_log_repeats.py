"""Repeated warnings held back to a burst per interval, with the count on the next line let through."""

from __future__ import annotations

import logging

from services.common.log_repeats import RepeatFilter
from services.common.runtime import configure_logging
from services.common.settings import Settings


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def record(message: str, *args: object, level: int = logging.ERROR, name: str = "aiokafka.conn") -> logging.LogRecord:
    return logging.LogRecord(name, level, __file__, 1, message, args, None)


def test_a_flood_of_one_warning_becomes_a_burst_and_a_count() -> None:
    clock = Clock()
    repeat = RepeatFilter(interval=10, burst=2, clock=clock)
    let_through = [repeat.filter(record("Unable connect to node with id %s: %s", n, "refused")) for n in range(1000)]
    assert let_through.count(True) == 2
    clock.now = 10.5
    later = record("Unable connect to node with id %s: %s", 1, "refused")
    assert repeat.filter(later)
    assert "998 more like this held back" in later.getMessage()


def test_other_templates_loggers_and_info_lines_are_not_held_back() -> None:
    repeat = RepeatFilter(interval=10, burst=1, clock=Clock())
    assert repeat.filter(record("Unable connect %s", 1))
    assert not repeat.filter(record("Unable connect %s", 2))
    assert repeat.filter(record("Unable to update metadata %s", 1))
    assert repeat.filter(record("Unable connect %s", 1, name="xf.intake"))
    assert all(repeat.filter(record("routed %s", n, level=logging.INFO)) for n in range(100))


def test_every_service_installs_it_with_its_logging() -> None:
    root = logging.getLogger()
    handler = logging.StreamHandler()
    level, filters = root.level, {h: list(h.filters) for h in root.handlers}
    root.addHandler(handler)
    try:
        configure_logging(Settings(log_repeat_burst=3))
        configure_logging(Settings(log_repeat_burst=3))
        repeats = [f for f in handler.filters if isinstance(f, RepeatFilter)]
        assert len(repeats) == 1
        assert repeats[0].burst == 3
    finally:  # the other tests' log capture must not be held back
        root.handlers = list(filters)
        root.setLevel(level)
        for other in root.handlers:
            other.filters = filters.get(other, [])
