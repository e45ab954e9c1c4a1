"""Grafana's variables and macros in the dashboards' queries, expanded as Grafana would for a time range,
so the queries can be run outside Grafana (the end-to-end test; by hand against Prometheus or psql).

Only what the dashboards use is supported (`$__rate_interval` and `$__range` in PromQL, `$__timeFrom()`
and `$__timeTo()` in SQL); anything else left in a query is an error, so a new macro cannot slip into a
dashboard untested.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

_LEFT = re.compile(r"\$\{?[A-Za-z_]\w*")


class UnsupportedMacro(ValueError):
    pass


def _check(text: str) -> str:
    left = _LEFT.findall(text)
    if left:
        raise UnsupportedMacro(f"unsupported Grafana variables or macros: {sorted(set(left))}")
    return text


def expand_promql(expr: str, *, range_seconds: float, rate_interval: str = "1m") -> str:
    """`$__range` is the dashboard's range in seconds; `$__rate_interval` at least four scrape intervals."""
    text = expr.replace("$__rate_interval", rate_interval).replace("$__range", f"{max(int(range_seconds), 1)}s")
    return _check(text)


def _quoted(at: datetime) -> str:
    return "'" + at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") + "'"


def expand_sql(sql: str, *, start: datetime, end: datetime) -> str:
    """`$__timeFrom()` / `$__timeTo()` become quoted UTC timestamps, as Grafana's PostgreSQL data source does."""
    return _check(sql.replace("$__timeFrom()", _quoted(start)).replace("$__timeTo()", _quoted(end)))
