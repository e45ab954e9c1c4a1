"""When a stage clock crosses its alert thresholds, and which ones a scan must raise.

Thresholds of a running unit-side clock, numbered so that a clock's `alert_level` (the highest one
raised for its current due date) says what is left:
  1 warning       at the start of the warning lead (absent when the lead is 0)
  2 overdue       just after due_at
  2+k escalated k at the breach for k = 1 (the supervising unit), then one breach window later
                  for each further level, up to the policy's `escalation.levels`
                  (the same ladder as Clock.escalation_level)
Petitioner windows (review_window, rereview_window) have a single threshold, `lapsed`, just after
their due: the tracker then concludes the case (no request in time, docs/domain.md §8).
A scan that finds a clock already overdue raises no warning for it: the overdue alert says more.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

ThresholdKind = Literal["warning", "overdue", "escalated", "lapsed"]
TICK = timedelta(microseconds=1)  # due_at is the last instant of the due day: the breach is after it
WARNING, OVERDUE = 1, 2


@dataclass(frozen=True)
class Threshold:
    index: int
    kind: ThresholdKind
    level: int  # escalation level: 0 for warning, overdue and lapsed
    at: datetime


def schedule(
    *,
    is_window: bool,
    warn_at: datetime | None,
    due_at: datetime,
    levels: int,
    breach_window: timedelta,
) -> tuple[Threshold, ...]:
    if is_window:
        return (Threshold(1, "lapsed", 0, due_at + TICK),)
    found: list[Threshold] = []
    if warn_at is not None and warn_at < due_at:
        found.append(Threshold(WARNING, "warning", 0, warn_at))
    found.append(Threshold(OVERDUE, "overdue", 0, due_at + TICK))
    for level in range(1, levels + 1):
        at = due_at + TICK if level == 1 else due_at + (level - 1) * breach_window
        found.append(Threshold(OVERDUE + level, "escalated", level, at))
    return tuple(found)


def next_alert_at(thresholds: Sequence[Threshold], alert_level: int) -> datetime | None:
    """When the first threshold above `alert_level` is reached; None when none is left."""
    for threshold in thresholds:
        if threshold.index > alert_level:
            return threshold.at
    return None


def threshold_index(kind: str, level: int) -> int:
    """The number of a raised alert's threshold (as recorded in `alerts`: kind and escalation level)."""
    if kind in ("warning", "lapsed"):
        return WARNING
    if kind == "overdue":
        return OVERDUE
    if kind == "escalated":
        return OVERDUE + level
    raise ValueError(f"not an alert kind: {kind!r}")


def crossed(thresholds: Sequence[Threshold], alert_level: int, now: datetime) -> list[Threshold]:
    """The thresholds above `alert_level` reached by `now`, in order (no warning once overdue)."""
    reached = [t for t in thresholds if t.index > alert_level and t.at <= now]
    if any(t.index >= OVERDUE for t in reached):
        reached = [t for t in reached if t.kind != "warning"]
    return reached
