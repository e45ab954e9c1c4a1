"""What the monthly situation report (信访形势分析) shows, read from the tracker's views.

The period's measures and breakdowns are those of `xf report` (data.py: tracker.period_statistics and
tracker.daily_volume), for the period and the one before. The rest is read from the same views:
volume per day, the measures per handling unit (the numerators and denominators of
tracker.period_statistics, grouped by unit: the same `case_facts` columns, the same period tests),
handling deadlines per day with the cases overdue at each day's end, and the times from receipt to
routing, acceptance and reply.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

import asyncpg

from services.report.data import PeriodReport, fetch
from services.report.period import Period


@dataclass(frozen=True)
class DayChannel:
    day: date
    channel: str
    batches: int


@dataclass(frozen=True)
class UnitMeasures:
    """One handling unit's fractions, as in tracker.period_statistics (closure, on-time closure, reply)."""

    unit: str
    accepted: int
    accepted_replied: int
    handle_due: int
    handle_due_met: int
    for_handling: int
    answered: int


@dataclass(frozen=True)
class DeadlineDay:
    day: date
    due: int  # handling deadlines that fell on the day
    met: int  # of those, replied by the due date
    overdue_open: int  # cases past their handling deadline without a reply at the day's end


@dataclass(frozen=True)
class Situation:
    current: PeriodReport
    previous: PeriodReport
    daily: list[DayChannel]
    category_county: dict[tuple[str, str], int]  # (category, county) → batches in the period
    previous_category_county: dict[tuple[str, str], int]
    units: list[UnitMeasures]
    deadlines: list[DeadlineDay]
    backlog_now: int  # 积案: running handling clocks past due, not paused (case_facts.backlog)
    # Days from receipt to routing, acceptance and reply of the cases received in the period.
    durations: dict[str, list[float]]


_DAILY = """
SELECT day, channel, sum(batches)::bigint AS batches
FROM tracker.daily_volume WHERE day BETWEEN $1 AND $2
GROUP BY 1, 2 ORDER BY 1, 2
"""
_CATEGORY_COUNTY = """
SELECT category, county, sum(batches)::bigint AS batches
FROM tracker.daily_volume WHERE day BETWEEN $1 AND $2
GROUP BY 1, 2
"""
_UNITS = """
WITH acc AS (
    SELECT handling_unit AS unit, count(*) AS n, count(*) FILTER (WHERE replied_at IS NOT NULL) AS done
    FROM tracker.case_facts WHERE accepted_day BETWEEN $1 AND $2 GROUP BY 1
), due AS (
    SELECT handling_unit AS unit, count(*) AS n, count(*) FILTER (WHERE replied_on_time) AS met
    FROM tracker.case_facts WHERE handle_due_date BETWEEN $1 AND $2 GROUP BY 1
), rep AS (
    SELECT handling_unit AS unit, count(*) AS n,
           count(*) FILTER (WHERE replied_at IS NOT NULL OR rejected_at IS NOT NULL) AS answered
    FROM tracker.case_facts WHERE received_day BETWEEN $1 AND $2 AND for_handling GROUP BY 1
)
SELECT unit,
       coalesce(acc.n, 0) AS accepted, coalesce(acc.done, 0) AS accepted_replied,
       coalesce(due.n, 0) AS handle_due, coalesce(due.met, 0) AS handle_due_met,
       coalesce(rep.n, 0) AS for_handling, coalesce(rep.answered, 0) AS answered
FROM acc FULL JOIN due USING (unit) FULL JOIN rep USING (unit)
WHERE unit IS NOT NULL
ORDER BY unit
"""
# Days up to today only: a period that has not ended has no overdue cases in its future.
_DEADLINES = """
WITH days AS (
    SELECT day::date AS day, ((day::date + 1)::timestamp AT TIME ZONE d.timezone) AS day_end
    FROM tracker.deployment d
    CROSS JOIN LATERAL generate_series(
        $1::date, least($2::date, (now() AT TIME ZONE d.timezone)::date), interval '1 day') AS day
)
SELECT days.day,
       count(f.case_id) FILTER (WHERE f.handle_due_date = days.day) AS due,
       count(f.case_id) FILTER (WHERE f.handle_due_date = days.day AND f.replied_on_time) AS met,
       count(f.case_id) FILTER (
           WHERE f.handle_due_at < days.day_end
             AND coalesce(f.replied_at, f.closed_at, 'infinity') >= days.day_end
       ) AS overdue_open
FROM days
LEFT JOIN tracker.case_facts f ON f.handle_due_at < days.day_end
GROUP BY 1 ORDER BY 1
"""
_DURATIONS = """
SELECT extract(epoch FROM routed_at - received_at) / 86400 AS route,
       extract(epoch FROM accepted_at - received_at) / 86400 AS accept,
       extract(epoch FROM replied_at - received_at) / 86400 AS reply
FROM tracker.case_facts WHERE received_day BETWEEN $1 AND $2
"""


async def _category_county(conn: asyncpg.Connection[Any], period: Period) -> dict[tuple[str, str], int]:
    rows = await conn.fetch(_CATEGORY_COUNTY, period.first, period.last)
    return {(r["category"], r["county"]): int(r["batches"]) for r in rows}


async def fetch_situation(conn: asyncpg.Connection[Any], period: Period) -> Situation:
    before = period.previous()
    current = await fetch(conn, period)
    previous = await fetch(conn, before)
    daily = [DayChannel(r["day"], r["channel"], int(r["batches"])) for r in await conn.fetch(_DAILY, *_span(period))]
    units = [UnitMeasures(**dict(r)) for r in await conn.fetch(_UNITS, *_span(period))]
    deadlines = [DeadlineDay(**dict(r)) for r in await conn.fetch(_DEADLINES, *_span(period))]
    backlog = await conn.fetchval("SELECT count(*) FROM tracker.case_facts WHERE backlog")
    durations: dict[str, list[float]] = {"route": [], "accept": [], "reply": []}
    for row in await conn.fetch(_DURATIONS, *_span(period)):
        for key, values in durations.items():
            if row[key] is not None:
                values.append(max(float(row[key]), 0.0))
    return Situation(
        current=current,
        previous=previous,
        daily=daily,
        category_county=await _category_county(conn, period),
        previous_category_county=await _category_county(conn, before),
        units=units,
        deadlines=deadlines,
        backlog_now=int(backlog or 0),
        durations=durations,
    )


def _span(period: Period) -> tuple[date, date]:
    return period.first, period.last


async def load_situation(dsn: str, period: Period) -> Situation:
    conn = await asyncpg.connect(dsn)
    try:
        return await fetch_situation(conn, period)
    finally:
        await conn.close()
