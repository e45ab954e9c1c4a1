"""What a dashboard shows, as data: boards of rows of panels, each panel with its queries and the shape
of data it expects. `render.py` turns this into Grafana JSON; the end-to-end test runs every query of it
against the real Prometheus and PostgreSQL and checks the shape.

Shapes:
- Prometheus: every series carries the labels the legend names (`{{channel}}`); a panel that shows one
  number (`single`) gets exactly one series per query.
- SQL: the result has exactly the declared columns, in order; a time series starts with `time`.
Every query must return data: a panel that would show nothing is a bug.

The end of this module builds the panels and queries several boards share.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from services.dashboards import sql
from services.report.vocabulary import MEASURE_BY_COLUMN, bilingual

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


# Panel and query shapes that several boards share.

PER_MINUTE = "cpm"


def code_names(codes: dict[str, str]) -> dict[str, str]:
    """Display names of a vocabulary's codes (services/report/vocabulary.py): "网上 online"."""
    return {code: bilingual(code, codes) for code in codes}


def _legend(labels: tuple[str, ...]) -> str:
    return " ".join(f"{{{{{label}}}}}" for label in labels)


def rate_by(metric: str, *labels: str, per_minute: bool = False) -> Prom:
    """A counter's rate (per second, or per minute), summed by `labels`, one series each."""
    expr = f"sum by ({', '.join(labels)}) (rate({metric}[$__rate_interval]))"
    return Prom(f"60 * {expr}" if per_minute else expr, _legend(labels))


def increase_by(metric: str, *labels: str) -> Prom:
    """How much a counter grew over the dashboard's range, summed by `labels` (one value per series)."""
    return Prom(f"sum by ({', '.join(labels)}) (increase({metric}[$__range]))", _legend(labels), instant=True)


def per_minute(zh: str, en: str, metric: str, label: str, codes: dict[str, str]) -> Panel:
    """A stacked time series of a counter per minute by one label, its values shown by their names."""
    return Panel(
        "timeseries",
        zh,
        en,
        (rate_by(metric, label, per_minute=True),),
        unit=PER_MINUTE,
        width=8,
        names=code_names(codes),
        stacked=True,
    )


def instant_stat(
    zh: str, en: str, expr: str, *, unit: str = "short", decimals: int | None = None, description: str = ""
) -> Panel:
    """A small stat (4 × 4) of one PromQL number at the end of the range."""
    return Panel(
        "stat",
        zh,
        en,
        (Prom(expr, instant=True),),
        unit=unit,
        width=4,
        height=4,
        single=True,
        decimals=decimals,
        description=description,
    )


def period_stat(column: str, unit: str, description: str) -> Panel:
    """A small stat (4 × 4) of one column of tracker.period_statistics over the dashboard's range.
    `description` may name the measure's fields: "{m.zh}", "{m.en}", "{m.column}"."""
    measure = MEASURE_BY_COLUMN[column]
    return Panel(
        "stat",
        measure.zh,
        measure.en.split(" (")[0],
        (Sql(sql.period_statistics(column), (column,)),),
        unit=unit,
        width=4,
        height=4,
        single=True,
        decimals=1 if unit == "percentunit" else 0,
        description=description.format(m=measure),
    )
