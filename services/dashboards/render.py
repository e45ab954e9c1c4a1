"""Boards (spec.py) → Grafana dashboard JSON, through Grafana's own typed models (grafana-foundation-sdk,
generated from Grafana 11.6's schema; Grafana 12 loads schemaVersion 41 as it is).

The SDK has no PostgreSQL query type, so SQL targets are a small Dataquery of our own with the fields
Grafana's PostgreSQL data source reads (rawSql, format, rawQuery, editorMode).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Protocol, Self

from grafana_foundation_sdk.builders import bargauge, common, stat, table, timeseries
from grafana_foundation_sdk.builders import dashboard as board_builder
from grafana_foundation_sdk.builders import prometheus as prom_builder
from grafana_foundation_sdk.cog import builder as cogbuilder
from grafana_foundation_sdk.cog import variants as cogvariants
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import common as common_models
from grafana_foundation_sdk.models import dashboard as models
from grafana_foundation_sdk.models.prometheus import QueryEditorMode

from services.common.settings import PROJECT_ROOT
from services.dashboards.boards import BOARDS
from services.dashboards.spec import (
    POSTGRES_TYPE,
    POSTGRES_UID,
    PROMETHEUS_TYPE,
    PROMETHEUS_UID,
    Board,
    Panel,
    Prom,
    Sql,
)

DASHBOARD_DIR = PROJECT_ROOT / "deploy" / "grafana" / "dashboards"
TAG = "xinfang"
REF_IDS = "ABCDEFGHIJ"


class SqlQuery(cogvariants.Dataquery):
    def __init__(self, sql: str, ref_id: str, time_series: bool) -> None:
        self.sql = sql
        self.ref_id = ref_id
        self.time_series = time_series

    def to_json(self) -> dict[str, object]:
        return {
            "refId": self.ref_id,
            "datasource": {"type": POSTGRES_TYPE, "uid": POSTGRES_UID},
            "editorMode": "code",
            "format": "time_series" if self.time_series else "table",
            "rawQuery": True,
            "rawSql": self.sql,
        }


class SqlQueryBuilder(cogbuilder.Builder[cogvariants.Dataquery]):
    def __init__(self, query: SqlQuery) -> None:
        self._internal = query

    def build(self) -> cogvariants.Dataquery:
        return self._internal


class BuiltPanel(cogbuilder.Builder[models.Panel]):
    def __init__(self, panel: models.Panel) -> None:
        self._internal = panel

    def build(self) -> models.Panel:
        return self._internal


class PanelBuilder(Protocol):
    """The methods every panel builder of the SDK has (each panel type has its own class)."""

    def id(self, id_val: int) -> Self: ...
    def title(self, title: str) -> Self: ...
    def description(self, description: str) -> Self: ...
    def datasource(self, datasource: models.DataSourceRef) -> Self: ...
    def with_target(self, target: cogbuilder.Builder[cogvariants.Dataquery]) -> Self: ...
    def unit(self, unit: str) -> Self: ...
    def height(self, h: int) -> Self: ...
    def span(self, w: int) -> Self: ...
    def decimals(self, decimals: float) -> Self: ...
    def mappings(self, mappings: list[models.ValueMapping]) -> Self: ...
    def override_by_name(self, name: str, properties: list[models.DynamicConfigValue]) -> Self: ...
    def build(self) -> models.Panel: ...


def _typed(panel: Panel) -> PanelBuilder:
    if panel.kind == "timeseries":
        legend = (
            common.VizLegendOptions()
            .display_mode(common_models.LegendDisplayMode.LIST)
            .placement(common_models.LegendPlacement.BOTTOM)
            .show_legend(True)
        )
        series = (
            timeseries.Panel()
            .legend(legend)
            .tooltip(common.VizTooltipOptions().mode(common_models.TooltipDisplayMode.MULTI))
            .fill_opacity(20 if panel.stacked else 5)
            .line_width(1)
        )
        if panel.stacked:
            series = series.stacking(common.StackingConfig().mode(common_models.StackingMode.NORMAL))
        return series
    if panel.kind == "stat":
        return (
            stat.Panel()
            .reduce_options(common.ReduceDataOptions().calcs(["lastNotNull"]).values(False))
            .graph_mode(common_models.BigValueGraphMode.NONE)
            .color_mode(common_models.BigValueColorMode.VALUE)
            .text_mode(common_models.BigValueTextMode.NAME if panel.show_name else common_models.BigValueTextMode.AUTO)
        )
    if panel.kind == "bargauge":
        return (
            bargauge.Panel()
            .reduce_options(common.ReduceDataOptions().calcs(["lastNotNull"]).values(False))
            .orientation(common_models.VizOrientation.HORIZONTAL)
            .display_mode(common_models.BarGaugeDisplayMode.BASIC)
        )
    return table.Panel().show_header(True)


def _target(query: Prom | Sql, ref_id: str) -> cogbuilder.Builder[cogvariants.Dataquery]:
    if isinstance(query, Sql):
        return SqlQueryBuilder(SqlQuery(query.sql, ref_id, query.time_series))
    target = (
        prom_builder.Dataquery()
        .ref_id(ref_id)
        .expr(query.expr)
        .legend_format(query.legend or "__auto")
        .editor_mode(QueryEditorMode.CODE)
        .datasource(models.DataSourceRef(type_val=PROMETHEUS_TYPE, uid=PROMETHEUS_UID))
    )
    return target.instant() if query.instant else target.range()


def panel_builder(panel: Panel, panel_id: int) -> PanelBuilder:
    uid, kind = (POSTGRES_UID, POSTGRES_TYPE) if panel.is_sql else (PROMETHEUS_UID, PROMETHEUS_TYPE)
    built = (
        _typed(panel)
        .id(panel_id)
        .title(panel.title)
        .datasource(models.DataSourceRef(type_val=kind, uid=uid))
        .unit(panel.unit)
        .height(panel.height)
        .span(panel.width)
    )
    if panel.description:
        built = built.description(panel.description)
    if panel.decimals is not None:
        built = built.decimals(panel.decimals)
    for ref_id, query in zip(REF_IDS, panel.queries, strict=False):
        built = built.with_target(_target(query, ref_id))
    for name, display in panel.names.items():
        built = built.override_by_name(name, [models.DynamicConfigValue(id_val="displayName", value=display)])
    if panel.value_names:
        options = {code: models.ValueMappingResult(text=text) for code, text in panel.value_names.items()}
        built = built.mappings([models.ValueMap(options=options)])
    return built


def dashboard(board: Board) -> dict[str, Any]:
    """The dashboard JSON of one board (a dict, as Grafana stores it)."""
    builder = (
        board_builder.Dashboard(board.title)
        .uid(board.uid)
        .description(board.description)
        .tags([TAG])
        .time(board.time_from, "now")
        .refresh(board.refresh)
        .timezone("browser")
        .editable()
        .links(
            [
                board_builder.DashboardLink("xinfang")
                .type(models.DashboardLinkType.DASHBOARDS)
                .tags([TAG])
                .as_dropdown(True)
                .keep_time(True)
            ]
        )
    )
    next_id = 1
    for row in board.rows:
        builder = builder.with_row(board_builder.Row(row.title).id(next_id))
        next_id += 1
        for panel in row.panels:
            builder = builder.with_panel(BuiltPanel(panel_builder(panel, next_id).build()))
            next_id += 1
    data: dict[str, Any] = json.loads(json.dumps(builder.build(), cls=JSONEncoder))
    return data


def to_text(data: dict[str, Any]) -> str:
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def rendered() -> dict[str, str]:
    """File name → JSON text, for every board."""
    return {board.file: to_text(dashboard(board)) for board in BOARDS}


def write(directory: Path = DASHBOARD_DIR) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in rendered().items():
        path = directory / name
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


def stale(directory: Path = DASHBOARD_DIR) -> list[str]:
    """Files in `directory` that differ from what the boards generate (or are missing, or not ours)."""
    expected = rendered()
    found = {p.name for p in directory.glob("*.json")}
    problems = [f"{name}: not generated by services.dashboards" for name in sorted(found - expected.keys())]
    for name, text in expected.items():
        path = directory / name
        if not path.exists():
            problems.append(f"{name}: missing")
        elif path.read_text(encoding="utf-8") != text:
            problems.append(f"{name}: differs from the generated dashboard")
    return problems
