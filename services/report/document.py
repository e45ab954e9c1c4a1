"""The situation report (信访形势分析) as one self-contained HTML file: charts as PNG data URIs, the CJK font
subset embedded, no script, nothing fetched. The PDF is this file printed by Chromium (pdf.py).
"""

from __future__ import annotations

import base64
import html
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from functools import cache
from pathlib import Path

import yaml

from services.common.regions import UnknownRegion, official_regions
from services.report import charts, fonts
from services.report.charts import Bar
from services.report.data import Number, VolumeRow
from services.report.narrative import Sentence, main_changes
from services.report.render import MEASURE_HEADER, measure_cells
from services.report.situation import Situation, UnitMeasures
from services.report.vocabulary import CATEGORIES, CHANNELS, MEASURE_BY_COLUMN, MEASURES

TOP = 10  # categories and counties in the bar charts
TOP_UNITS = 15
HEADLINE = (
    "batches",
    "person_times",
    "first_time_rate",
    "repeat_rate",
    "collective_rate",
    "closure_rate",
    "on_time_closure_rate",
    "reply_rate",
)


def region_name(code: str) -> str:
    try:
        return official_regions().name(code)
    except UnknownRegion:
        return code


@cache
def _departments(rules_dir: Path) -> dict[str, str]:
    data = yaml.safe_load((rules_dir / "directory.yaml").read_text(encoding="utf-8"))
    departments = data.get("departments", {}) if isinstance(data, dict) else {}
    return {str(k): str(v) for k, v in departments.items()}


def unit_namer(rules_dir: Path) -> Callable[[str], str]:
    """ "150207:hrss" → "九原区人力资源和社会保障" (the region's name and the department's, from rules/)."""
    departments = _departments(rules_dir)

    def name(unit: str) -> str:
        region, _, department = unit.partition(":")
        return f"{region_name(region)}{departments.get(department, department)}"

    return name


@dataclass(frozen=True)
class Chart:
    zh: str
    en: str
    png: bytes
    note: str = ""

    def html(self) -> str:
        data = base64.b64encode(self.png).decode("ascii")
        alt = html.escape(f"{self.zh} / {self.en}")
        note = f'<p class="note">{html.escape(self.note)}</p>' if self.note else ""
        return (
            f'<figure class="chart"><figcaption>{html.escape(self.zh)} <span class="en">{html.escape(self.en)}</span>'
            f'</figcaption><img class="chart-image" alt="{alt}" src="data:image/png;base64,{data}">{note}</figure>'
        )


# Which way is better, for the colour of a change (volume is neither).
BETTER_UP = {
    "first_time_rate",
    "closure_rate",
    "on_time_closure_rate",
    "reply_rate",
    "settle_rate",
    "assignment_closure_rate",
}
BETTER_DOWN = {"repeat_rate", "skip_level_rate", "collective_rate"}


def _tone(column: str, direction: str) -> str:
    if direction == "flat" or column not in BETTER_UP | BETTER_DOWN:
        return "neutral"
    return "good" if (direction == "up") == (column in BETTER_UP) else "bad"


def _rate(value: Number) -> str:
    return "—" if value is None else f"{Decimal(value) * 100:.1f}%"


def _card(column: str, s: Situation) -> str:
    measure = MEASURE_BY_COLUMN[column]
    now, before = s.current.statistics.get(column), s.previous.statistics.get(column)
    if measure.kind == "rate":
        value = _rate(now)
        stats = s.current.statistics
        detail = f"{stats.get(measure.numerator or '') or 0}/{stats.get(measure.denominator or '') or 0}"
        if now is None or before is None:
            delta, direction = "上期无 n/a", "flat"
        else:
            points = (Decimal(now) - Decimal(before)) * 100
            direction = "up" if points > 0 else "down" if points < 0 else "flat"
            delta = f"{'▲' if points > 0 else '▼' if points < 0 else '＝'} {abs(points):.1f} 个百分点 pt"
    else:
        value = str(now or 0)
        detail = ""
        a, b = int(now or 0), int(before or 0)
        direction = "up" if a > b else "down" if a < b else "flat"
        delta = f"{'▲' if a > b else '▼' if a < b else '＝'} {abs(a - b) / b:.0%}" if b else "上期无 n/a"
    previous = _rate(before) if measure.kind == "rate" else str(before or 0)
    return (
        f'<div class="card"><div class="label">{html.escape(measure.zh)}</div>'
        f'<div class="label en">{html.escape(measure.en.split(" (")[0])}</div>'
        f'<div class="value">{value}</div>'
        f'<div class="detail">{html.escape(detail)}</div>'
        f'<div class="delta {_tone(column, direction)}">{html.escape(delta)} '
        f'<span class="prev">上期 prev. {previous}</span></div></div>'
    )


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _bars(rows: list[VolumeRow], previous: list[VolumeRow], name: Callable[[str], str]) -> list[Bar]:
    before = {r.key: r.batches for r in previous}
    return [Bar(name(r.key), r.batches, before.get(r.key, 0)) for r in rows[:TOP]]


def _days(s: Situation) -> list[date]:
    period = s.current.period
    return [period.first + timedelta(days=i) for i in range(period.days)]


def _daily_chart(s: Situation) -> Chart:
    days = _days(s)
    index = {d: i for i, d in enumerate(days)}
    series: dict[str, list[int]] = {}
    for row in s.daily:
        values = series.setdefault(f"{CHANNELS.get(row.channel, row.channel)} {row.channel}", [0] * len(days))
        values[index[row.day]] += row.batches
    return Chart(
        "每日受理批次（按渠道）",
        "Cases received per day, by channel",
        charts.daily_lines(days, series, ylabel="批次 batches"),
    )


def _unit_bars(
    units: Sequence[UnitMeasures], numerator: str, denominator: str, name: Callable[[str], str]
) -> tuple[list[Bar], str]:
    rated = [u for u in units if getattr(u, denominator) > 0]
    # The units with the most cases due, ranked by their rate (best on top).
    shown = sorted(rated, key=lambda u: (-getattr(u, denominator), u.unit))[:TOP_UNITS]
    shown.sort(key=lambda u: (-getattr(u, numerator) / getattr(u, denominator), -getattr(u, denominator), u.unit))
    bars = [
        Bar(
            name(u.unit),
            getattr(u, numerator) / getattr(u, denominator),
            note=f"{getattr(u, numerator) / getattr(u, denominator):.0%}"
            f"（{getattr(u, numerator)}/{getattr(u, denominator)}）",
        )
        for u in shown
    ]
    note = f"共{len(rated)}个单位，显示件数最多的{len(shown)}个"
    note += f" / {len(shown)} of {len(rated)} units, those with most cases"
    return bars, note


def build_charts(s: Situation, unit_name: Callable[[str], str]) -> dict[str, list[Chart]]:
    legend = (f"本期 {s.current.period.label}", f"上期 {s.previous.period.label}")
    on_time, on_time_note = _unit_bars(s.units, "handle_due_met", "handle_due", unit_name)
    closure, closure_note = _unit_bars(s.units, "accepted_replied", "accepted", unit_name)
    days = _days(s)
    deadline_days = [d.day for d in s.deadlines]
    return {
        "volume": [
            _daily_chart(s),
            Chart(
                "按问题分类（前10）",
                "By category (top 10), against the previous period",
                charts.ranked_bars(
                    _bars(s.current.by_category, s.previous.by_category, lambda c: CATEGORIES.get(c, c)),
                    xlabel="批次 batches",
                    legend=legend,
                ),
            ),
            Chart(
                "按事发地（县级，前10）",
                "By county where the matter arose (top 10)",
                charts.ranked_bars(
                    _bars(s.current.by_county, s.previous.by_county, region_name), xlabel="批次 batches", legend=legend
                ),
            ),
        ],
        "units": [
            Chart(
                "按期办结率（按责任单位）",
                "On-time closure rate by handling unit (met / due in the period)",
                charts.ranked_bars(on_time, xlabel="按期办结率 on-time closure rate", percent=True),
                on_time_note,
            ),
            Chart(
                "办结率（按责任单位）",
                "Closure rate by handling unit (replied / accepted in the period)",
                charts.ranked_bars(closure, xlabel="办结率 closure rate", percent=True),
                closure_note,
            ),
        ],
        "deadlines": [
            Chart(
                "办理期限与逾期趋势",
                "Handling deadlines per day and cases overdue",
                charts.deadlines(
                    deadline_days or days,
                    [d.met for d in s.deadlines],
                    [d.due - d.met for d in s.deadlines],
                    [d.overdue_open for d in s.deadlines],
                ),
            ),
        ],
        "durations": [
            Chart(
                "办理时长分布",
                "Time from receipt to routing, acceptance and reply (cases received in the period)",
                charts.durations(s.durations),
            ),
        ],
    }


STYLE = """
:root { --text: #2b2f36; --muted: #6b7280; --line: #d9dde3; --bad: #b42318; --good: #1f7a46; }
* { box-sizing: border-box; }
html { background: #ffffff; }
body { font-family: "%(family)s", sans-serif; color: var(--text); margin: 0 auto; max-width: 760px;
       padding: 24px 20px 40px; font-size: 13px; line-height: 1.55; overflow-wrap: anywhere; }
h1 { font-size: 22px; margin: 0 0 4px; font-weight: 700; }
h2 { font-size: 16px; margin: 26px 0 8px; padding-bottom: 4px; border-bottom: 2px solid #2f6db5; font-weight: 700; }
.en { color: var(--muted); font-weight: 400; font-size: 0.86em; }
.meta { color: var(--muted); font-size: 11px; margin: 0 0 14px; }
.cards { display: grid; grid-template-columns: repeat(4, minmax(0, 1fr)); gap: 8px; }
.card { border: 1px solid var(--line); border-radius: 6px; padding: 8px 10px; min-width: 0; break-inside: avoid; }
.card .label { font-size: 12px; }
.card .label.en { font-size: 10px; color: var(--muted); }
.card .value { font-size: 22px; font-weight: 700; margin-top: 2px; }
.card .detail { font-size: 10px; color: var(--muted); min-height: 1em; }
.card .delta { font-size: 11px; }
.card .delta.bad { color: var(--bad); } .card .delta.good { color: var(--good); }
.card .delta.neutral { color: #2f6db5; }
.card .prev { color: var(--muted); font-size: 10px; display: block; }
ul.changes { padding-left: 18px; margin: 0; }
ul.changes li { margin-bottom: 6px; break-inside: avoid; }
ul.changes .en { display: block; font-size: 11px; }
figure.chart { margin: 14px 0; break-inside: avoid; }
figure.chart figcaption { font-size: 13px; font-weight: 700; margin-bottom: 4px; }
figure.chart img { display: block; width: 100%%; height: auto; }
.note { color: var(--muted); font-size: 10px; margin: 2px 0 0; }
table { border-collapse: collapse; width: 100%%; font-size: 11px; break-inside: avoid; }
th, td { border-bottom: 1px solid var(--line); padding: 3px 6px; text-align: right; vertical-align: top; }
th:first-child, td:first-child { text-align: left; }
th { font-weight: 700; }
footer { margin-top: 28px; color: var(--muted); font-size: 10px; }
@page { size: A4; margin: 14mm 12mm; }
@media print {
  body { max-width: none; padding: 0; }
  h2 { break-after: avoid; }
  /* tall charts (the unit rankings) shrink so that two share a page */
  figure.chart img { max-height: 105mm; width: auto; max-width: 100%%; margin: 0 auto; }
}
"""


def _changes(sentences: Sequence[Sentence]) -> str:
    items = "".join(f'<li>{html.escape(s.zh)}<span class="en">{html.escape(s.en)}</span></li>' for s in sentences)
    return f'<ul class="changes">{items}</ul>'


def _period_words(s: Situation) -> str:
    period = s.current.period
    match = re.fullmatch(r"(\d{4})-(\d{2})", period.label)
    return f"{match.group(1)}年{int(match.group(2))}月" if match else period.label


def document(s: Situation, *, rules_dir: Path, generated: datetime) -> str:
    """The report's HTML. Raises fonts.MissingGlyph if a text has a character the font cannot draw."""
    unit_name = unit_namer(rules_dir)
    period = s.current.period
    sentences = main_changes(s, region_name, unit_name)
    figures = build_charts(s, unit_name)

    def section(zh: str, en: str, *parts: str) -> str:
        return (
            f'<section><h2>{html.escape(zh)} <span class="en">{html.escape(en)}</span></h2>{"".join(parts)}</section>'
        )

    measures = _table(MEASURE_HEADER, [measure_cells(m, s.current.statistics) for m in MEASURES])
    body = "".join(
        [
            f"<header><h1>信访形势分析 · {html.escape(_period_words(s))}</h1>",
            f'<div class="en">Petition situation report, {html.escape(period.label)}</div>',
            f'<p class="meta">统计期 Period {period.first.isoformat()} – {period.last.isoformat()}'
            f"（{html.escape(s.current.timezone)}）"
            f" · 对比上期 against {s.previous.period.first.isoformat()} – {s.previous.period.last.isoformat()}"
            f" · 生成于 generated {generated.strftime('%Y-%m-%d %H:%M %Z')}</p></header>",
            section(
                "主要数据",
                "Headline figures",
                '<div class="cards">' + "".join(_card(c, s) for c in HEADLINE) + "</div>",
            ),
            section("主要变化", "Main changes", _changes(sentences)),
            section("一、受理情况", "Volume", *(c.html() for c in figures["volume"])),
            section("二、考核指标", "Assessment measures", measures, *(c.html() for c in figures["units"])),
            section("三、期限与积案", "Deadlines, overdue and backlog", *(c.html() for c in figures["deadlines"])),
            section("四、办理时长", "Time to route, accept and reply", *(c.html() for c in figures["durations"])),
            "<footer>数据来源：tracker 的统计视图（tracker.period_statistics、daily_volume、case_facts），"
            "口径见 services/tracker/migrations/003_views.sql。由 xf report 生成。"
            " Source: the tracker's statistics views; definitions in services/tracker/migrations/003_views.sql."
            " Generated by xf report.</footer>",
        ]
    )
    title = f"信访形势分析 {period.label} / Petition situation report"
    text = html.unescape(re.sub(r"<[^>]+>", " ", body)) + title
    css = fonts.subset_css(text)
    style = STYLE % {"family": fonts.EMBEDDED_FAMILY}
    return (
        '<!DOCTYPE html>\n<html lang="zh-CN"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title>"
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<style>{css}\n{style}</style></head><body>{body}</body></html>\n"
    )
