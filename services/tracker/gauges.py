"""Gauges read from the database and from Kafka, refreshed in the background.

Counts of open cases, running, due-soon, overdue and paused clocks, backlog and parked events come
from one grouped query each (the same numbers every tracker instance reports: take max() across
instances in Grafana, not sum()). Consumer lag is the tracker group's committed offsets against the
topics' end offsets, as services.common.progress measures them for stall detection.
"""

from __future__ import annotations

import logging
from collections import Counter as Tally
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import asyncpg
from prometheus_client import Gauge

from services.common.progress import ConsumerProgress
from services.common.runtime import every
from services.tracker import metrics, units
from services.tracker.stages import WINDOWS

log = logging.getLogger("xf.tracker.gauges")

_CLOCKS = """
SELECT k.stage, coalesce(c.handling_level, 'none') AS level,
       count(*) AS running,
       count(*) FILTER (WHERE k.paused_since IS NULL AND k.due_at < $1) AS overdue,
       count(*) FILTER (WHERE k.paused_since IS NULL AND k.due_at >= $1 AND k.warn_at <= $1
                          AND k.warn_at < k.due_at) AS due_soon,
       count(*) FILTER (WHERE k.paused_since IS NOT NULL) AS paused
FROM clocks k JOIN cases c USING (case_id)
WHERE k.completed_at IS NULL
GROUP BY 1, 2
"""


async def refresh_database_gauges(pool: asyncpg.Pool, now: datetime | None = None) -> None:
    now = now or datetime.now(UTC)
    async with pool.acquire() as conn:
        cases = await conn.fetch(
            """SELECT stage, coalesce(handling_level, 'none') AS level,
                      coalesce(handling_unit, received_by) AS unit, count(*) AS n
               FROM cases WHERE NOT closed GROUP BY 1, 2, 3"""
        )
        clocks = await conn.fetch(_CLOCKS, now)
        parked = await conn.fetchval("SELECT count(*) FROM parked_events")
    by_stage: Tally[tuple[str, str]] = Tally()
    by_unit: Tally[str] = Tally()
    for row in cases:
        by_stage[(row["stage"], row["level"])] += row["n"]
        by_unit[units.county_rollup(row["unit"])] += row["n"]
    _set(metrics.OPEN_CASES, by_stage)
    _set(metrics.OPEN_CASES_BY_UNIT, {(unit,): n for unit, n in by_unit.items()})
    running: Tally[tuple[str]] = Tally()
    paused: Tally[tuple[str]] = Tally()
    due_soon: Tally[tuple[str, str]] = Tally()
    overdue: Tally[tuple[str, str]] = Tally()
    backlog: Tally[tuple[str]] = Tally()
    for row in clocks:
        stage, level = row["stage"], row["level"]
        running[(stage,)] += row["running"]
        paused[(stage,)] += row["paused"]
        if stage in WINDOWS:
            continue  # the petitioner's windows are nobody's deadline
        due_soon[(stage, level)] += row["due_soon"]
        overdue[(stage, level)] += row["overdue"]
        if stage == "handle":
            backlog[(level,)] += row["overdue"]
    _set(metrics.RUNNING_CLOCKS, running)
    _set(metrics.PAUSED, paused)
    _set(metrics.DUE_SOON, due_soon)
    _set(metrics.OVERDUE, overdue)
    _set(metrics.BACKLOG, backlog)
    metrics.PARKED.set(parked)


def _set(gauge: Gauge, values: Mapping[Any, int]) -> None:
    gauge.clear()
    for labels, value in values.items():
        gauge.labels(*labels).set(value)


async def keep_fresh(pool: asyncpg.Pool, progress: ConsumerProgress | None, interval: float) -> None:
    async def refresh() -> None:
        await refresh_database_gauges(pool)
        if progress is not None:  # measured by its own loop (services.common.progress)
            for topic, value in progress.lag_by_topic().items():
                metrics.CONSUMER_LAG.labels(topic).set(value)

    await every(interval, refresh, log, "gauge refresh")
