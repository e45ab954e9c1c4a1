"""A period report as a terminal table, CSV and Markdown. Pure: no I/O but the strings it returns.

CSV files are written with a UTF-8 byte-order mark: spreadsheet programs on Chinese desktops read
BOM-less UTF-8 as the local code page and garble the names.
"""

from __future__ import annotations

import csv
import io
import unicodedata
from collections.abc import Callable, Sequence
from decimal import Decimal

from services.common.regions import UnknownRegion, official_regions
from services.report.data import Number, PeriodReport, VolumeRow
from services.report.vocabulary import CATEGORIES, CHANNELS, MEASURES, Measure, bilingual

EMPTY = "—"
VOLUME_COLUMNS = (
    ("batches", "批次", "Batches"),
    ("person_times", "人次", "Person-times"),
    ("first_time", "初信初访", "First-time"),
    ("repeat", "重复", "Repeat"),
    ("skip_level", "越级", "Skip-level"),
    ("collective", "集体", "Collective"),
)
BREAKDOWNS = (
    ("by_channel", "按渠道", "By channel", "渠道 Channel"),
    ("by_category", "按问题分类", "By category", "问题分类 Category"),
    ("by_county", "按事发地（县级）", "By county where the matter arose", "县级区划 County"),
)


def county_name(code: str) -> str:
    try:
        return f"{official_regions().name(code)} {code}"
    except UnknownRegion:
        return code


def key_name(breakdown: str) -> Callable[[str], str]:
    if breakdown == "by_channel":
        return lambda code: bilingual(code, CHANNELS)
    if breakdown == "by_category":
        return lambda code: bilingual(code, CATEGORIES)
    return county_name


def percent(value: Number) -> str:
    return EMPTY if value is None else f"{Decimal(value) * 100:.1f}%"


def count(value: Number) -> str:
    return EMPTY if value is None else str(value)


def measure_cells(measure: Measure, stats: dict[str, Number]) -> list[str]:
    """Measure, value, numerator, denominator as displayed."""
    value = stats.get(measure.column)
    name = f"{measure.zh} {measure.en}"
    if measure.kind == "rate":
        numerator = stats.get(measure.numerator or "")
        denominator = stats.get(measure.denominator or "")
        return [name, percent(value), count(numerator), count(denominator)]
    return [name, count(value), "", ""]


def volume_cells(row: VolumeRow, name: Callable[[str], str]) -> list[str]:
    return [name(row.key), *(str(getattr(row, column)) for column, _, _ in VOLUME_COLUMNS)]


def width(text: str) -> int:
    """Columns a string takes in a terminal: CJK characters are two wide."""
    return sum(2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1 for ch in text)


def text_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [max(width(cell) for cell in column) for column in zip(header, *rows, strict=False)]

    def line(cells: Sequence[str]) -> str:
        padded = []
        for i, cell in enumerate(cells):
            gap = " " * (widths[i] - width(cell))
            padded.append(cell + gap if i == 0 else gap + cell)  # names left, numbers right
        return "  ".join(padded).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(header), rule, *(line(r) for r in rows)])


MEASURE_HEADER = ("指标 Measure", "数值 Value", "分子 Numerator", "分母 Denominator")


def _volume_header(first: str) -> list[str]:
    return [first, *(f"{zh} {en}" for _, zh, en in VOLUME_COLUMNS)]


def title(report: PeriodReport) -> str:
    period = report.period
    return (
        f"xinfang 信访统计 / Period statistics {period.label} "
        f"({period.first.isoformat()} – {period.last.isoformat()}, {report.timezone})"
    )


def terminal(report: PeriodReport, top: int = 10) -> str:
    parts = [title(report), "", text_table(MEASURE_HEADER, [measure_cells(m, report.statistics) for m in MEASURES])]
    for attr, zh, en, first in BREAKDOWNS:
        rows: list[VolumeRow] = getattr(report, attr)
        shown = rows[:top]
        more = f" (前{top} / top {top} of {len(rows)})" if len(rows) > top else ""
        parts += ["", f"{zh} / {en}{more}"]
        name = key_name(attr)
        parts.append(
            text_table(_volume_header(first), [volume_cells(r, name) for r in shown]) if rows else f"{EMPTY} 无 none"
        )
    return "\n".join(parts) + "\n"


def _raw(value: Number) -> str:
    return "" if value is None else str(value)


def measures_csv(report: PeriodReport) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["period", "from", "to", "measure", "name_zh", "name_en", "value", "numerator", "denominator"])
    stats = report.statistics
    for m in MEASURES:
        writer.writerow(
            [
                report.period.label,
                report.period.first.isoformat(),
                report.period.last.isoformat(),
                m.column,
                m.zh,
                m.en,
                _raw(stats.get(m.column)),
                _raw(stats.get(m.numerator or "")) if m.kind == "rate" else "",
                _raw(stats.get(m.denominator or "")) if m.kind == "rate" else "",
            ]
        )
    return out.getvalue()


def volume_csv(report: PeriodReport) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["period", "breakdown", "key", "name", *(column for column, _, _ in VOLUME_COLUMNS)])
    for attr, _, _, _ in BREAKDOWNS:
        name = key_name(attr)
        for row in getattr(report, attr):
            writer.writerow(
                [report.period.label, attr.removeprefix("by_"), row.key, name(row.key).removesuffix(row.key).strip()]
                + [getattr(row, column) for column, _, _ in VOLUME_COLUMNS]
            )
    return out.getvalue()


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|")


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    align = ["---"] + ["---:"] * (len(header) - 1)
    lines = [header, align, *rows]
    return "\n".join("| " + " | ".join(_md_cell(c) for c in line) + " |" for line in lines)


def markdown(report: PeriodReport) -> str:
    parts = [
        f"# {title(report)}",
        "",
        "比率的定义见 tracker.period_statistics（services/tracker/migrations/003_views.sql）。"
        " Rates as defined by tracker.period_statistics.",
        "",
        "## 指标 / Measures",
        "",
        markdown_table(MEASURE_HEADER, [measure_cells(m, report.statistics) for m in MEASURES]),
    ]
    for attr, zh, en, first in BREAKDOWNS:
        rows: list[VolumeRow] = getattr(report, attr)
        name = key_name(attr)
        parts += ["", f"## {zh} / {en}", ""]
        parts.append(
            markdown_table(_volume_header(first), [volume_cells(r, name) for r in rows]) if rows else "无 / none"
        )
    return "\n".join(parts) + "\n"
