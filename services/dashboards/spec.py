"""What a dashboard shows, as data: boards of rows of panels, each panel with its queries and the shape
of data it expects. `render.py` turns this into Grafana JSON; the end-to-end test runs every query of it
against the real Prometheus and PostgreSQL and checks the shape.

Shapes:
- Prometheus: every series carries the labels the legend names (`{{channel}}`); a panel that shows one
  number (`single`) gets exactly one series per query.
- SQL: the result has exactly the declared columns, in order; a time series starts with `time`.
Every query must return data: a panel that would show nothing is a bug.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

PROMETHEUS_UID = "prometheus"
POSTGRES_UID = "postgres"
PROMETHEUS_TYPE = "prometheus"
POSTGRES_TYPE = "grafana-postgresql-datasource"

PanelKind = Literal["timeseries", "stat", "bargauge", "table"]
_LEGEND_LABEL = re.compile(r"\{\{\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\}\}")


@dataclass(frozen=True)
class Prom:
    """A PromQL query. `legend` as in Grafana ("{{channel}}"); `instant` for one value per series."""

    expr: str
    legend: str = ""
    instant: bool = False

    @property
    def labels(self) -> tuple[str, ...]:
        return tuple(_LEGEND_LABEL.findall(self.legend))


@dataclass(frozen=True)
class Sql:
    """A query on the tracker's views; `columns` are the result's, in order. A time series has `time` first."""

    sql: str
    columns: tuple[str, ...]
    time_series: bool = False

    def __post_init__(self) -> None:
        if self.time_series and self.columns[:1] != ("time",):
            raise ValueError("a SQL time series starts with the column `time`")


Query = Prom | Sql


@dataclass(frozen=True)
class Panel:
    kind: PanelKind
    zh: str
    en: str
    queries: tuple[Query, ...]
    unit: str = "short"
    width: int = 12
    height: int = 8
    description: str = ""
    # Display names: a SQL column or a series name (a legend's value) → "中文 English".
    names: Mapping[str, str] = field(default_factory=dict)
    # Codes in table cells or stat names shown in Chinese and English.
    value_names: Mapping[str, str] = field(default_factory=dict)
    # A stat of one number per query, or a stat that shows the series' name (a version) instead.
    single: bool = False
    show_name: bool = False
    decimals: int | None = None
    stacked: bool = False

    def __post_init__(self) -> None:
        kinds = {type(q) for q in self.queries}
        if not self.queries or len(kinds) != 1:
            raise ValueError(f"{self.title}: one or more queries, all Prometheus or all SQL")
        if not 1 <= self.width <= 24:
            raise ValueError(f"{self.title}: width must be 1..24")

    @property
    def title(self) -> str:
        return f"{self.zh} / {self.en}"

    @property
    def is_sql(self) -> bool:
        return isinstance(self.queries[0], Sql)


@dataclass(frozen=True)
class Row:
    zh: str
    en: str
    panels: tuple[Panel, ...]

    @property
    def title(self) -> str:
        return f"{self.zh} / {self.en}"


@dataclass(frozen=True)
class Board:
    uid: str
    file: str  # under deploy/grafana/dashboards/
    zh: str
    en: str
    description: str
    rows: tuple[Row, ...]
    time_from: str = "now-30d"
    refresh: str = "30s"

    @property
    def title(self) -> str:
        return f"xinfang {self.zh} / {self.en}"

    def panels(self) -> list[Panel]:
        return [panel for row in self.rows for panel in row.panels]
