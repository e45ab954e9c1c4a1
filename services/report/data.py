"""Reading a period's statistics from the tracker's SQL views (the ones the dashboards use).

Every number comes from `tracker.period_statistics` or `tracker.daily_volume`; nothing is computed here
beyond sums of the views' counts over the days of the period.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import asyncpg

from services.report.period import Period

Number = int | Decimal | None


@dataclass(frozen=True)
class VolumeRow:
    key: str
    batches: int
    person_times: int
    first_time: int
    repeat: int
    skip_level: int
    collective: int


@dataclass(frozen=True)
class PeriodReport:
    period: Period
    statistics: dict[str, Number]  # the columns of tracker.period_statistics
    by_channel: list[VolumeRow]
    by_category: list[VolumeRow]
    by_county: list[VolumeRow]
    timezone: str


_VOLUME = """
SELECT {column} AS key,
       sum(batches)::bigint AS batches, sum(person_times)::bigint AS person_times,
       sum(first_time)::bigint AS first_time, sum(repeat)::bigint AS repeat,
       sum(skip_level)::bigint AS skip_level, sum(collective)::bigint AS collective
FROM tracker.daily_volume
WHERE day BETWEEN $1 AND $2
GROUP BY 1
ORDER BY 2 DESC, 1
"""
_BREAKDOWNS = {"by_channel": "channel", "by_category": "category", "by_county": "county"}


async def fetch(conn: asyncpg.Connection[Any], period: Period) -> PeriodReport:
    row = await conn.fetchrow("SELECT * FROM tracker.period_statistics($1, $2)", period.first, period.last)
    if row is None:  # the function always returns one row; None means the views are not there
        raise RuntimeError("tracker.period_statistics returned nothing")
    statistics: dict[str, Number] = {
        key: value for key, value in dict(row).items() if key not in ("period_from", "period_to")
    }
    breakdowns: dict[str, list[VolumeRow]] = {}
    for name, column in _BREAKDOWNS.items():
        rows = await conn.fetch(_VOLUME.format(column=column), period.first, period.last)
        breakdowns[name] = [VolumeRow(**dict(r)) for r in rows]
    timezone = await conn.fetchval("SELECT timezone FROM tracker.deployment")
    return PeriodReport(period, statistics, timezone=str(timezone), **breakdowns)


async def load(dsn: str, period: Period) -> PeriodReport:
    conn = await asyncpg.connect(dsn)
    try:
        return await fetch(conn, period)
    finally:
        await conn.close()
