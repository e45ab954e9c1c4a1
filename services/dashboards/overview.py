"""总览 / Overview: volume in batches and person-times by channel, category and region, and the
first-time, repeat, skip-level and collective rates (DOMAIN.md §7)."""

from __future__ import annotations

from pathlib import Path

import yaml

from services.common.regions import official_regions
from services.common.settings import PROJECT_ROOT
from services.dashboards import sql
from services.dashboards.spec import Board, Panel, Prom, Row, Sql
from services.report.vocabulary import CATEGORIES, CHANNELS, MEASURE_BY_COLUMN, bilingual

PER_MINUTE = "cpm"


def _names(codes: dict[str, str]) -> dict[str, str]:
    return {code: bilingual(code, codes) for code in codes}


def county_names(deployment: Path = PROJECT_ROOT / "rules" / "deployment.yaml") -> dict[str, str]:
    """ "伊金霍洛旗 150627" for every county of the deployment's scope (rules/deployment.yaml)."""
    tree = official_regions()
    scope: list[str] = yaml.safe_load(deployment.read_text(encoding="utf-8"))["scope"]
    return {r.code: f"{r.name} {r.code}" for root in scope for r in tree.descendants(root) if r.level == "county"}


def _period_stat(column: str, unit: str) -> Panel:
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
        description=f"所选时间范围（按部署地日期）内 tracker.period_statistics 的 {column}。"
        f" / {measure.en}, from tracker.period_statistics over the selected range (local dates).",
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
        Panel(
            "timeseries",
            "受理批次（按渠道，每分钟）",
            "Cases received by channel, per minute",
            (Prom("60 * sum by (channel) (rate(xf_tracker_cases_received_total[$__rate_interval]))", "{{channel}}"),),
            unit=PER_MINUTE,
            width=8,
            names=_names(CHANNELS),
            stacked=True,
        ),
        Panel(
            "timeseries",
            "受理人次（按渠道，每分钟）",
            "Person-times by channel, per minute",
            (Prom("60 * sum by (channel) (rate(xf_tracker_person_times_total[$__rate_interval]))", "{{channel}}"),),
            unit=PER_MINUTE,
            width=8,
            names=_names(CHANNELS),
            stacked=True,
        ),
        Panel(
            "timeseries",
            "新登记（按问题分类，每分钟）",
            "New cases by category, per minute",
            (
                Prom(
                    "60 * sum by (category) (rate(xf_intake_cases_received_total[$__rate_interval]))",
                    "{{category}}",
                ),
            ),
            unit=PER_MINUTE,
            width=8,
            names=_names(CATEGORIES),
            stacked=True,
        ),
    ),
)

BREAKDOWN = Row(
    "分布",
    "Breakdown",
    (
        Panel(
            "table",
            "按渠道",
            "By channel",
            (Sql(sql.volume_by("channel"), ("channel", "batches", "person_times")),),
            width=6,
            height=9,
            names={"channel": "渠道 Channel", "batches": "批次 Batches", "person_times": "人次 Person-times"},
            value_names=_names(CHANNELS),
        ),
        Panel(
            "table",
            "按问题分类",
            "By category",
            (Sql(sql.volume_by("category"), ("category", "batches", "person_times")),),
            width=8,
            height=9,
            names={"category": "问题分类 Category", "batches": "批次 Batches", "person_times": "人次 Person-times"},
            value_names=_names(CATEGORIES),
        ),
        Panel(
            "table",
            "按事发地（县级，前20）",
            "By county where the matter arose (top 20)",
            (
                Sql(
                    sql.volume_by(
                        "county",
                        extra=", sum(v.collective)::bigint AS collective, sum(v.skip_level)::bigint AS skip_level",
                        limit=20,
                    ),
                    ("county", "batches", "person_times", "collective", "skip_level"),
                ),
            ),
            width=10,
            height=9,
            names={
                "county": "县级区划 County",
                "batches": "批次 Batches",
                "person_times": "人次 Person-times",
                "collective": "集体访 Collective",
                "skip_level": "越级访 Skip-level",
            },
            value_names=county_names(),
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
            names={"batches": "批次 Batches", "person_times": "人次 Person-times"},
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
    description="信访事项的数量与构成（DOMAIN.md §7）：批次、人次，按渠道、问题分类、事发地；"
    "初信初访、重复、越级、集体访比率。"
    " / Volume and mix of petitions: batches and person-times by channel, category and region; first-time, "
    "repeat, skip-level and collective rates.",
    rows=(THIS_PERIOD, LIVE, BREAKDOWN, TRENDS),
)
