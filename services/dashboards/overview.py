"""总览 / Overview: volume in batches and person-times by channel, category and region, and the
first-time, repeat, skip-level and collective rates (docs/domain.md §9)."""

from __future__ import annotations

from pathlib import Path

import yaml

from services.common.regions import official_regions
from services.common.settings import PROJECT_ROOT
from services.dashboards import sql
from services.dashboards.spec import Board, Panel, Row, Sql, code_names, per_minute, period_stat
from services.report.vocabulary import CATEGORIES, CHANNELS

VOLUME = {"batches": "批次 Batches", "person_times": "人次 Person-times"}


def county_names(deployment: Path = PROJECT_ROOT / "rules" / "deployment.yaml") -> dict[str, str]:
    """ "伊金霍洛旗 150627" for every county of the deployment's scope (rules/deployment.yaml)."""
    tree = official_regions()
    scope: list[str] = yaml.safe_load(deployment.read_text(encoding="utf-8"))["scope"]
    return {r.code: f"{r.name} {r.code}" for root in scope for r in tree.descendants(root) if r.level == "county"}


def _period_stat(column: str, unit: str) -> Panel:
    return period_stat(
        column,
        unit,
        "所选时间范围（按部署地日期）内 tracker.period_statistics 的 {m.column}。"
        " / {m.en}, from tracker.period_statistics over the selected range (local dates).",
    )


def _volume_table(
    zh: str,
    en: str,
    column: str,
    label: str,
    width: int,
    value_names: dict[str, str],
    *,
    sums: dict[str, str] | None = None,
    limit: int | None = None,
) -> Panel:
    """Batches and person-times received in the range by a column of tracker.daily_volume, then the
    view's columns in `sums` (column → display name), summed too."""
    more = sums or {}
    extra = "".join(f", sum(v.{c})::bigint AS {c}" for c in more)
    return Panel(
        "table",
        zh,
        en,
        (Sql(sql.volume_by(column, extra=extra, limit=limit), (column, *VOLUME, *more)),),
        width=width,
        height=9,
        names={column: label, **VOLUME, **more},
        value_names=value_names,
    )


THIS_PERIOD = Row(
    "本期概况",
    "This period",
    (
        _period_stat("batches", "short"),
        _period_stat("person_times", "short"),
        _period_stat("first_time_rate", "percentunit"),
        _period_stat("repeat_rate", "percentunit"),
        _period_stat("skip_level_rate", "percentunit"),
        _period_stat("collective_rate", "percentunit"),
    ),
)

LIVE = Row(
    "实时受理",
    "Live intake",
    (
        per_minute(
            "受理批次（按渠道，每分钟）",
            "Cases received by channel, per minute",
            "xf_tracker_cases_received_total",
            "channel",
            CHANNELS,
        ),
        per_minute(
            "受理人次（按渠道，每分钟）",
            "Person-times by channel, per minute",
            "xf_tracker_person_times_total",
            "channel",
            CHANNELS,
        ),
        per_minute(
            "新登记（按问题分类，每分钟）",
            "New cases by category, per minute",
            "xf_intake_cases_received_total",
            "category",
            CATEGORIES,
        ),
    ),
)

BREAKDOWN = Row(
    "分布",
    "Breakdown",
    (
        _volume_table("按渠道", "By channel", "channel", "渠道 Channel", 6, code_names(CHANNELS)),
        _volume_table("按问题分类", "By category", "category", "问题分类 Category", 8, code_names(CATEGORIES)),
        _volume_table(
            "按事发地（县级，前20）",
            "By county where the matter arose (top 20)",
            "county",
            "县级区划 County",
            10,
            county_names(),
            sums={"collective": "集体访 Collective", "skip_level": "越级访 Skip-level"},
            limit=20,
        ),
    ),
)

TRENDS = Row(
    "趋势",
    "Trends",
    (
        Panel(
            "timeseries",
            "每日批次与人次",
            "Batches and person-times per day",
            (
                Sql(
                    "SELECT (v.day::timestamp AT TIME ZONE d.timezone) AS time,\n"
                    "       sum(v.batches)::bigint AS batches, sum(v.person_times)::bigint AS person_times\n"
                    f"FROM {sql.PERIOD}\n"
                    "JOIN tracker.daily_volume v ON v.day BETWEEN p.p_from AND p.p_to\n"
                    "GROUP BY 1\nORDER BY 1",
                    ("time", "batches", "person_times"),
                    time_series=True,
                ),
            ),
            names=VOLUME,
        ),
        Panel(
            "timeseries",
            "每日初信初访、重复、越级、集体占比",
            "First-time, repeat, skip-level and collective shares per day",
            (
                Sql(
                    sql.daily_statistics("first_time_rate", "repeat_rate", "skip_level_rate", "collective_rate"),
                    ("time", "first_time_rate", "repeat_rate", "skip_level_rate", "collective_rate"),
                    time_series=True,
                ),
            ),
            unit="percentunit",
            names={
                "first_time_rate": "初信初访 First-time",
                "repeat_rate": "重复信访 Repeat",
                "skip_level_rate": "越级访 Skip-level",
                "collective_rate": "集体访 Collective",
            },
        ),
    ),
)

BOARD = Board(
    uid="xf-overview",
    file="overview.json",
    zh="总览",
    en="Overview",
    description="信访事项的数量与构成（docs/domain.md §9）：批次、人次，按渠道、问题分类、事发地；"
    "初信初访、重复、越级、集体访比率。"
    " / Volume and mix of petitions: batches and person-times by channel, category and region; first-time, "
    "repeat, skip-level and collective rates.",
    rows=(THIS_PERIOD, LIVE, BREAKDOWN, TRENDS),
)
