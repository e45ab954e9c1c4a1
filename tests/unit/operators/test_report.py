"""`xf report`: periods, and the table, CSV and Markdown of a period's statistics."""

from __future__ import annotations

import csv
import io
from datetime import date
from decimal import Decimal

import pytest

from services.report import render
from services.report.data import Number, PeriodReport, VolumeRow
from services.report.period import Period, PeriodError, parse_period
from services.report.vocabulary import MEASURES


@pytest.mark.parametrize(
    ("text", "label", "first", "last"),
    [
        ("2026-10", "2026-10", date(2026, 10, 1), date(2026, 10, 31)),
        ("2024-02", "2024-02", date(2024, 2, 1), date(2024, 2, 29)),
        ("2026-q4", "2026-Q4", date(2026, 10, 1), date(2026, 12, 31)),
        ("2026", "2026", date(2026, 1, 1), date(2026, 12, 31)),
        ("2026-10-01..2026-10-15", "2026-10-01..2026-10-15", date(2026, 10, 1), date(2026, 10, 15)),
    ],
)
def test_periods(text: str, label: str, first: date, last: date) -> None:
    assert parse_period(text) == Period(label, first, last)


@pytest.mark.parametrize(
    "text", ["2026-13", "2026-Q5", "26-10", "2026-10-15..2026-10-01", "October", "2026-02-30..2026-03-01"]
)
def test_bad_periods(text: str) -> None:
    with pytest.raises(PeriodError, match=text.split("..")[0][:4]):
        parse_period(text)


def stats(**overrides: Number) -> dict[str, Number]:
    values: dict[str, Number] = {
        "batches": 412,
        "person_times": 733,
        "first_time": 323,
        "first_time_rate": Decimal("0.7840"),
        "repeat": 89,
        "repeat_rate": Decimal("0.2160"),
        "skip_level": 6,
        "skip_level_rate": Decimal("0.0146"),
        "collective": 21,
        "collective_rate": Decimal("0.0510"),
        "accepted": 300,
        "accepted_replied": 210,
        "closure_rate": Decimal("0.7000"),
        "handle_due": 180,
        "handle_due_met": 150,
        "on_time_closure_rate": Decimal("0.8333"),
        "for_handling": 350,
        "answered": 260,
        "reply_rate": Decimal("0.7429"),
        "replied": 200,
        "replied_decided": 120,
        "settled": 96,
        "settle_rate": Decimal("0.8000"),
        "assignment_due": 0,
        "assignment_due_met": 0,
        "assignment_closure_rate": None,
    }
    values.update(overrides)
    return values


def volume(key: str, batches: int) -> VolumeRow:
    return VolumeRow(key, batches, batches * 2, batches - 1, 1, 0, 0)


REPORT = PeriodReport(
    period=Period("2026-10", date(2026, 10, 1), date(2026, 10, 31)),
    statistics=stats(),
    by_channel=[volume("online", 200), volume("visit", 90), volume("telegram", 3)],
    by_category=[volume("wage_arrears", 120)],
    by_county=[volume("150627", 40), volume("999999", 1)],
    timezone="Asia/Shanghai",
)


def test_terminal_table_shows_every_measure_with_its_fraction() -> None:
    text = render.terminal(REPORT)
    assert text.startswith("xinfang 信访统计 / Period statistics 2026-10 (2026-10-01 – 2026-10-31, Asia/Shanghai)")
    lines = text.splitlines()
    on_time = next(line for line in lines if line.startswith("到期结案率"))
    assert on_time.split()[-3:] == ["83.3%", "150", "180"]
    assignment = next(line for line in lines if line.startswith("上级交办办结率"))
    assert assignment.split()[-3:] == ["—", "0", "0"]  # no report was due: no rate, not 0%
    assert next(line for line in lines if line.startswith("批次")).split()[-1] == "412"


def test_terminal_table_aligns_chinese_text() -> None:
    table = render.text_table(["名称 Name", "n"], [["网上 online", "1"], ["x", "22"]])
    widths = {render.width(line) for line in table.splitlines()}
    assert len(widths) == 1, table  # CJK counted as two columns: every line equally wide


def test_breakdowns_name_channels_categories_and_counties() -> None:
    text = render.terminal(REPORT, top=2)
    assert "网上 online" in text and "来访 visit" in text
    assert "telegram" not in text and "(前2 / top 2 of 3)" in text
    assert "拖欠工资 wage_arrears" in text
    assert "伊金霍洛旗 150627" in text
    assert "999999" in text  # an unknown code is shown as it is


def test_measures_csv_has_raw_values_and_fractions() -> None:
    rows = list(csv.DictReader(io.StringIO(render.measures_csv(REPORT))))
    assert [r["measure"] for r in rows] == [m.column for m in MEASURES]
    on_time = next(r for r in rows if r["measure"] == "on_time_closure_rate")
    assert (on_time["value"], on_time["numerator"], on_time["denominator"]) == ("0.8333", "150", "180")
    assert on_time["name_zh"] == "到期结案率" and on_time["period"] == "2026-10" and on_time["to"] == "2026-10-31"
    assert next(r for r in rows if r["measure"] == "assignment_closure_rate")["value"] == ""
    assert next(r for r in rows if r["measure"] == "batches")["numerator"] == ""


def test_volume_csv_has_every_breakdown_row() -> None:
    rows = list(csv.DictReader(io.StringIO(render.volume_csv(REPORT))))
    assert [(r["breakdown"], r["key"]) for r in rows] == [
        ("channel", "online"),
        ("channel", "visit"),
        ("channel", "telegram"),
        ("category", "wage_arrears"),
        ("county", "150627"),
        ("county", "999999"),
    ]
    assert rows[0]["name"] == "网上" and rows[0]["batches"] == "200" and rows[0]["person_times"] == "400"
    assert rows[4]["name"] == "伊金霍洛旗"


def test_markdown_has_a_table_per_section() -> None:
    text = render.markdown(REPORT)
    assert text.startswith("# xinfang 信访统计")
    assert text.count("\n## ") == 4
    assert (
        "| 到期结案率 On-time closure rate (replied by the due date / due in the period) | 83.3% | 150 | 180 |" in text
    )
    assert "| --- | ---: | ---: | ---: |" in text
