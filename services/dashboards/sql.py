"""SQL building blocks for the PostgreSQL panels. Every measure comes from the tracker's views and
`tracker.period_statistics` (services/tracker/migrations/003_views.sql); nothing is redefined here.

Grafana replaces `$__timeFrom()` / `$__timeTo()` with the dashboard's range as quoted UTC timestamps;
the views count local days of the deployment (tracker.deployment.timezone), so the range is turned into
local dates first.
"""

from __future__ import annotations

from services.report.vocabulary import MEASURES
from services.tracker.stages import WINDOWS

# FROM-clause items giving `d` (the deployment) and `p` (p_from, p_to: the dashboard's range as local dates).
PERIOD = """tracker.deployment d
CROSS JOIN LATERAL (
    SELECT ($__timeFrom()::timestamptz AT TIME ZONE d.timezone)::date AS p_from,
           ($__timeTo()::timestamptz AT TIME ZONE d.timezone)::date AS p_to
) p"""

WINDOW_STAGES = "(" + ", ".join(f"'{stage}'" for stage in WINDOWS) + ")"


def period_statistics(*columns: str) -> str:
    """Columns of the period statistics over the dashboard's range (one row)."""
    return (
        f"SELECT {', '.join('s.' + c for c in columns)}\n"
        f"FROM {PERIOD}\n"
        "CROSS JOIN LATERAL tracker.period_statistics(p.p_from, p.p_to) s"
    )


def daily_statistics(*columns: str) -> str:
    """The same measures day by day over the range (a time series; days without cases give NULL rates)."""
    return (
        "SELECT (day::date::timestamp AT TIME ZONE d.timezone) AS time, "
        f"{', '.join('s.' + c for c in columns)}\n"
        f"FROM {PERIOD}\n"
        "CROSS JOIN LATERAL generate_series(p.p_from, p.p_to, interval '1 day') AS day\n"
        "CROSS JOIN LATERAL tracker.period_statistics(day::date, day::date) s\n"
        "ORDER BY 1"
    )


def measures_table() -> str:
    """Every rate of the period with its numerator and denominator, one row per measure."""
    rows = ",\n        ".join(
        f"('{m.column}', s.{m.numerator}, s.{m.denominator}, s.{m.column})"
        for m in MEASURES
        if m.kind == "rate" and m.numerator and m.denominator
    )
    return (
        "SELECT m.measure, m.numerator, m.denominator, m.rate\n"
        f"FROM {PERIOD}\n"
        "CROSS JOIN LATERAL tracker.period_statistics(p.p_from, p.p_to) s\n"
        "CROSS JOIN LATERAL (VALUES\n"
        f"        {rows}\n"
        ") AS m(measure, numerator, denominator, rate)"
    )


def volume_by(column: str, *, extra: str = "", limit: int | None = None) -> str:
    """Batches and person-times received in the range, by a column of tracker.daily_volume."""
    tail = f"\nLIMIT {limit}" if limit else ""
    return (
        f"SELECT v.{column}, sum(v.batches)::bigint AS batches, sum(v.person_times)::bigint AS person_times{extra}\n"
        f"FROM {PERIOD}\n"
        "JOIN tracker.daily_volume v ON v.day BETWEEN p.p_from AND p.p_to\n"
        "GROUP BY 1\n"
        "ORDER BY 2 DESC, 1" + tail
    )
