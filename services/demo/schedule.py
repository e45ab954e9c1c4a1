"""When the demo's cases were received: most over the last months (so that deadlines have run, some out),
during office hours, and a share right now (so that the dashboards move while the demo runs)."""

from __future__ import annotations

import random
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo


def received_times(
    rng: random.Random, count: int, now: datetime, *, history_days: int, live_share: float, timezone: str
) -> list[datetime | None]:
    """`count` receipt times in ascending order; None is "now" (intake stamps it). Never in the future."""
    tz = ZoneInfo(timezone)
    today = now.astimezone(tz).date()
    times: list[datetime] = []
    live = 0
    for _ in range(count):
        if history_days <= 0 or rng.random() < live_share:
            live += 1
            continue
        day = today - timedelta(days=rng.randint(0, history_days))
        minute = rng.randint(8 * 60 + 30, 17 * 60 + 30)  # office hours
        at = datetime.combine(day, time(minute // 60, minute % 60, rng.randint(0, 59)), tzinfo=tz)
        times.append(min(at, now - timedelta(minutes=30)))
    return [*sorted(times), *([None] * live)]
