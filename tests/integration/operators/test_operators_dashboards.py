"""Every dashboard panel shows data under the demo workload.

The real Prometheus of the test stack scrapes the running services while `xf demo`'s workload goes
through them; then every Prometheus target of every panel is evaluated through Prometheus' HTTP API
(range queries for time series, instant queries for the rest, Grafana's variables expanded as Grafana
would) and every SQL target runs against PostgreSQL. Each must return data of the shape its panel
expects (services/dashboards/spec.py): a panel that would show nothing fails.
"""

from __future__ import annotations

import asyncio
import math
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest
import yaml
from operators_demo import DemoRun

from services.common.settings import PROJECT_ROOT, Settings
from services.dashboards.boards import BOARDS
from services.dashboards.macros import expand_promql, expand_sql
from services.dashboards.promql import family, metric_names
from services.dashboards.spec import Panel, Prom, Sql

RATE_INTERVAL = "30s"  # what Grafana's $__rate_interval gives with 5s scrapes and a short range
STEP = 5
SETTLE_TIMEOUT = 90.0
# Panels that cannot show data yet, each for a reason outside this repository part. strict: when the
# panel starts showing data, the test fails until the entry is removed.
KNOWN_GAPS: dict[str, str] = {}


@dataclass(frozen=True)
class Target:
    board: str
    panel: Panel
    index: int

    @property
    def query(self) -> Prom | Sql:
        return self.panel.queries[self.index]

    @property
    def id(self) -> str:
        return f"{self.board}:{self.panel.title}:{'ABCDEFGHIJ'[self.index]}"


TARGETS = [
    Target(board.uid, panel, i) for board in BOARDS for panel in board.panels() for i in range(len(panel.queries))
]


def prometheus(settings: Settings, path: str, **params: Any) -> Any:
    answer = httpx.get(f"http://{settings.host}:{settings.prometheus_port}{path}", params=params, timeout=30)
    body = answer.json()
    assert answer.status_code == 200 and body["status"] == "success", body
    return body["data"]


def finite(value: str) -> bool:
    return not math.isnan(float(value)) and not math.isinf(float(value))


def prom_problems(run: DemoRun, target: Target, now: datetime) -> list[str]:
    """Why this Prometheus target would show nothing or the wrong thing (empty when it is fine)."""
    query = target.query
    assert isinstance(query, Prom)
    start = run.started - timedelta(minutes=1)
    expr = expand_promql(query.expr, range_seconds=(now - start).total_seconds(), rate_interval=RATE_INTERVAL)
    if query.instant:
        data = prometheus(run.settings, "/api/v1/query", query=expr, time=now.timestamp())
        series = [(s["metric"], [s["value"][1]]) for s in data["result"]]
    else:
        data = prometheus(
            run.settings, "/api/v1/query_range", query=expr, start=start.timestamp(), end=now.timestamp(), step=STEP
        )
        series = [(s["metric"], [v for _, v in s["values"]]) for s in data["result"]]
    if not series:
        return [f"no series for {expr}"]
    problems = []
    if target.panel.single and len(series) != 1:
        problems.append(f"one value expected, got {len(series)} series")
    for labels, _ in series:
        missing = set(query.labels) - labels.keys()
        if missing:
            problems.append(f"series {labels} lacks the legend's labels {sorted(missing)}")
    if not any(finite(v) for _, values in series for v in values):
        problems.append(f"only NaN/Inf values for {expr}")
    return problems


async def sql_problems(conn: asyncpg.Connection[Any], target: Target, start: datetime, end: datetime) -> list[str]:
    query = target.query
    assert isinstance(query, Sql)
    rows = await conn.fetch(expand_sql(query.sql, start=start, end=end))
    if not rows:
        return ["no rows"]
    columns = tuple(rows[0].keys())
    if columns != query.columns:
        return [f"columns {columns}, expected {query.columns}"]
    problems = []
    for column in columns:
        if all(row[column] is None for row in rows):
            problems.append(f"column {column} is NULL in every row")
    if query.time_series:
        times = [row["time"] for row in rows]
        if not all(isinstance(t, datetime) for t in times) or times != sorted(times):
            problems.append("`time` must be ascending timestamps")
    return problems


@pytest.fixture(scope="module")
def settled(demo_run: DemoRun) -> datetime:
    """The time at which every Prometheus target has data (or the settle timeout passed)."""
    deadline = time.monotonic() + SETTLE_TIMEOUT
    prom_targets = [t for t in TARGETS if isinstance(t.query, Prom) and t.panel.title not in KNOWN_GAPS]
    while True:
        now = datetime.now(UTC)
        waiting = [t.id for t in prom_targets if prom_problems(demo_run, t, now)]
        if not waiting or time.monotonic() > deadline:
            return now
        time.sleep(5)


@pytest.mark.parametrize("target", [t for t in TARGETS if isinstance(t.query, Prom)], ids=lambda t: t.id)
def test_prometheus_panel_shows_data(demo_run: DemoRun, settled: datetime, target: Target) -> None:
    problems = prom_problems(demo_run, target, datetime.now(UTC))
    if target.panel.title in KNOWN_GAPS:
        if problems:
            pytest.xfail(KNOWN_GAPS[target.panel.title])
        pytest.fail(f"{target.id} shows data now: remove it from KNOWN_GAPS")
    assert not problems, f"{target.id}: {problems}"


@pytest.mark.parametrize("target", [t for t in TARGETS if isinstance(t.query, Sql)], ids=lambda t: t.id)
def test_sql_panel_shows_data(demo_run: DemoRun, target: Target) -> None:
    # The range of the demo's history: the period statistics of the back-dated months.
    end = datetime.now(UTC)
    start = end - timedelta(days=demo_run.options.history_days + 1)

    async def check() -> list[str]:
        conn = await asyncpg.connect(demo_run.settings.dsn)
        try:
            return await sql_problems(conn, target, start, end)
        finally:
            await conn.close()

    problems = asyncio.run(check())
    assert not problems, f"{target.id}: {problems}"


def _metric_names_in_use() -> dict[str, list[str]]:
    """Metric (family) name → where it is used, over the dashboards and the alert rules."""
    uses: dict[str, list[str]] = {}
    for target in TARGETS:
        if isinstance(target.query, Prom):
            for name in metric_names([target.query.expr]):
                uses.setdefault(name, []).append(target.id)
    for path in sorted((PROJECT_ROOT / "deploy" / "prometheus" / "rules").glob("*.yml")):
        for group in yaml.safe_load(path.read_text(encoding="utf-8"))["groups"]:
            for rule in group["rules"]:
                for name in metric_names([rule["expr"]]):
                    uses.setdefault(name, []).append(f"{path.name}:{rule.get('alert') or rule.get('record')}")
    return uses


def test_every_metric_in_dashboards_and_alerts_is_exposed(demo_run: DemoRun, settled: datetime) -> None:
    """Prometheus knows every metric the dashboards and the alert rules name, from a scraped service."""
    known = set(prometheus(demo_run.settings, "/api/v1/metadata").keys()) | {"up"}
    missing = {name: where for name, where in _metric_names_in_use().items() if family(name) not in known}
    assert not missing, f"metrics no running service exposes: {missing}"


def test_alert_rules_are_loaded_and_evaluate(demo_run: DemoRun, settled: datetime) -> None:
    groups = prometheus(demo_run.settings, "/api/v1/rules")["groups"]
    loaded = {rule["name"]: rule for group in groups for rule in group["rules"]}
    expected = {
        rule["alert"]
        for path in (PROJECT_ROOT / "deploy" / "prometheus" / "rules").glob("*.yml")
        for group in yaml.safe_load(path.read_text(encoding="utf-8"))["groups"]
        for rule in group["rules"]
        if "alert" in rule
    }
    assert expected <= loaded.keys()
    unhealthy = {name: rule.get("lastError") for name, rule in loaded.items() if rule.get("health") != "ok"}
    assert not unhealthy, unhealthy
    firing = {a["labels"]["alertname"] for a in prometheus(demo_run.settings, "/api/v1/alerts")["alerts"]}
    assert "XfServiceDown" not in firing
