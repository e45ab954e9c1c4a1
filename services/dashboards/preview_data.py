"""The data of every panel, fetched as Grafana would: each query of the panel with Grafana's macros expanded
(macros.py) against the running Prometheus (HTTP API) and PostgreSQL (the tracker's views).

The time range is the dashboard's (30 days by default). Prometheus only has data since it started, so its
range starts there at the earliest, as a Grafana panel would show it; the step is chosen for about 300
points and `$__rate_interval` is Grafana's: the larger of four scrape intervals and one step plus a scrape.
"""

from __future__ import annotations

import asyncio
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import asyncpg
import httpx

from services.common.db import Conn
from services.common.settings import Settings
from services.dashboards.macros import expand_promql, expand_sql
from services.dashboards.spec import Board, Panel, Prom, Sql

SCRAPE_SECONDS = 5
POINTS = 300
CONCURRENCY = 4
_LEGEND = re.compile(r"\{\{\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\}\}")
_RANGE = re.compile(r"^now-(\d+)([smhdw])$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}

Cell = str | float | int | datetime | None


@dataclass
class Series:
    name: str
    values: list[float | None]
    times: list[datetime] = field(default_factory=list)  # empty for one value (an instant query)


@dataclass
class PanelData:
    series: list[Series] = field(default_factory=list)
    columns: tuple[str, ...] = ()
    rows: list[tuple[Cell, ...]] = field(default_factory=list)
    error: str = ""

    @property
    def empty(self) -> bool:
        return not self.rows and not any(any(v is not None for v in s.values) for s in self.series)


@dataclass(frozen=True)
class Window:
    start: datetime  # the dashboard's range (SQL panels)
    end: datetime
    prom_start: datetime  # where Prometheus has data, at the earliest the range's start

    @property
    def step(self) -> int:
        return max(SCRAPE_SECONDS, math.ceil((self.end - self.prom_start).total_seconds() / POINTS))

    @property
    def rate_interval(self) -> str:
        return f"{max(4 * SCRAPE_SECONDS, self.step + SCRAPE_SECONDS)}s"


def board_range(board: Board) -> timedelta:
    match = _RANGE.match(board.time_from)
    if match is None:
        raise ValueError(f"{board.uid}: unsupported time range {board.time_from!r}")
    return timedelta(seconds=int(match.group(1)) * _UNITS[match.group(2)])


def series_name(panel: Panel, query: Prom, labels: dict[str, str]) -> str:
    """The legend's text for a series, each label value by its display name (spec.Panel.names/value_names)."""
    if not query.legend:
        return panel.names.get("", "") or (panel.zh if len(panel.queries) == 1 else "")
    text = _LEGEND.sub(lambda m: labels.get(m.group(1), ""), query.legend).strip()
    if text in panel.names:
        return panel.names[text]
    return " ".join(panel.names.get(part) or panel.value_names.get(part) or part for part in text.split())


def _number(value: str) -> float | None:
    number = float(value)
    return None if math.isnan(number) or math.isinf(number) else number


async def _prom(client: httpx.AsyncClient, base: str, panel: Panel, query: Prom, window: Window) -> list[Series]:
    expr = expand_promql(
        query.expr,
        range_seconds=(window.end - window.prom_start).total_seconds(),
        rate_interval=window.rate_interval,
    )
    if query.instant:
        answer = await client.get(f"{base}/api/v1/query", params={"query": expr, "time": window.end.timestamp()})
    else:
        answer = await client.get(
            f"{base}/api/v1/query_range",
            params={
                "query": expr,
                "start": window.prom_start.timestamp(),
                "end": window.end.timestamp(),
                "step": window.step,
            },
        )
    body = answer.json()
    if answer.status_code != 200 or body.get("status") != "success":
        raise RuntimeError(f"Prometheus: {body.get('error', answer.status_code)}")
    found = []
    for result in body["data"]["result"]:
        name = series_name(panel, query, result["metric"])
        if query.instant:
            found.append(Series(name, [_number(result["value"][1])]))
        else:
            times = [datetime.fromtimestamp(float(t), UTC) for t, _ in result["values"]]
            found.append(Series(name, [_number(v) for _, v in result["values"]], times))
    return found


def _cell(value: Any) -> Cell:
    if isinstance(value, Decimal):
        return float(value)
    if value is None or isinstance(value, str | int | float | datetime):
        return value
    return str(value)


async def _sql(conn: Conn, panel: Panel, query: Sql, window: Window, data: PanelData) -> None:
    rows = await conn.fetch(expand_sql(query.sql, start=window.start, end=window.end))
    columns = query.columns
    if query.time_series:
        times = [row["time"] for row in rows]
        for column in columns[1:]:
            values = [None if row[column] is None else float(row[column]) for row in rows]
            data.series.append(Series(panel.names.get(column, column), values, times))
    elif panel.single:
        for column in columns:
            value = rows[0][column] if rows else None
            data.series.append(Series(panel.names.get(column, panel.zh), [None if value is None else float(value)]))
    else:
        data.columns = columns
        data.rows = [tuple(_cell(row[c]) for c in columns) for row in rows]


async def prometheus_start(client: httpx.AsyncClient, base: str) -> datetime | None:
    """The oldest sample Prometheus holds (its head block's start), or None when it cannot say."""
    answer = await client.get(f"{base}/api/v1/status/tsdb")
    try:
        min_ms = int(answer.json()["data"]["headStats"]["minTime"])
    except (KeyError, TypeError, ValueError):
        return None
    return datetime.fromtimestamp(min_ms / 1000, UTC) if min_ms > 0 else None


async def _panel(
    client: httpx.AsyncClient,
    base: str,
    pool: asyncpg.Pool[Any],
    panel: Panel,
    window: Window,
    limit: asyncio.Semaphore,
) -> PanelData:
    data = PanelData()
    async with limit:
        try:
            for query in panel.queries:
                if isinstance(query, Prom):
                    data.series += await _prom(client, base, panel, query, window)
                else:
                    async with pool.acquire() as conn:
                        await _sql(conn, panel, query, window, data)
        except (httpx.HTTPError, OSError, asyncpg.PostgresError, RuntimeError) as error:
            data.error = f"{type(error).__name__}: {error}"[:300]
    return data


async def fetch_boards(settings: Settings, boards: Sequence[Board], end: datetime) -> list[dict[str, PanelData]]:
    """For each board, panel title → its data; the panels' queries run a few at a time. A query that fails
    is its panel's error, not the board's."""
    base = f"http://{settings.host}:{settings.prometheus_port}"
    limit = asyncio.Semaphore(CONCURRENCY)
    async with httpx.AsyncClient(timeout=30) as client:
        try:
            oldest = await prometheus_start(client, base)
        except httpx.HTTPError:
            oldest = None
        pool = await asyncpg.create_pool(settings.dsn, min_size=1, max_size=CONCURRENCY)
        try:
            found = []
            for board in boards:
                start = end - board_range(board)
                window = Window(start, end, max(start, oldest) if oldest else start)
                panels = board.panels()
                results = await asyncio.gather(*(_panel(client, base, pool, p, window, limit) for p in panels))
                found.append({p.title: r for p, r in zip(panels, results, strict=True)})
            return found
        finally:
            await pool.close()
