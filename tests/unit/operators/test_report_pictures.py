"""The situation report's pieces without a database: periods before, the generated text of the main changes,
the charts, the embedded font and the HTML document."""

from __future__ import annotations

import base64
import io
import re
from datetime import UTC, date, datetime, timedelta

import pytest
from fontTools.ttLib import TTFont
from pixels import coloured
from test_report import REPORT, stats, volume

from services.common.settings import PROJECT_ROOT
from services.report import charts, fonts
from services.report.charts import Bar
from services.report.data import PeriodReport
from services.report.document import document, unit_namer
from services.report.narrative import category_change, change, main_changes, weakest_unit
from services.report.period import Period, PeriodError, parse_period
from services.report.situation import DayChannel, DeadlineDay, Situation, UnitMeasures

RULES = PROJECT_ROOT / "rules"


@pytest.mark.parametrize(
    ("text", "previous"),
    [
        ("2026-03", "2026-02"),
        ("2026-01", "2025-12"),
        ("2026-Q1", "2025-Q4"),
        ("2026-Q3", "2026-Q2"),
        ("2026", "2025"),
        ("2026-10-11..2026-10-20", "2026-10-01..2026-10-10"),
    ],
)
def test_the_period_before(text: str, previous: str) -> None:
    assert parse_period(text).previous() == parse_period(previous)


def test_last_month_is_relative_to_today() -> None:
    assert parse_period("last-month", today=date(2026, 1, 5)).label == "2025-12"
    assert parse_period("last-month", today=date(2026, 12, 31)).label == "2026-11"
    with pytest.raises(PeriodError, match="last-month"):
        parse_period("last-month")


def situation(
    category_county: dict[tuple[str, str], int] | None = None,
    previous_category_county: dict[tuple[str, str], int] | None = None,
    units: list[UnitMeasures] | None = None,
) -> Situation:
    period = Period("2026-10", date(2026, 10, 1), date(2026, 10, 31))
    before = Period("2026-09", date(2026, 9, 1), date(2026, 9, 30))
    current = REPORT
    previous = PeriodReport(
        period=before,
        statistics=stats(batches=380, person_times=700, closure_rate=None),
        by_channel=[volume("online", 150)],
        by_category=[volume("wage_arrears", 20)],
        by_county=[volume("150207", 20)],
        timezone="Asia/Shanghai",
    )
    return Situation(
        current=current,
        previous=previous,
        daily=[DayChannel(period.first + timedelta(days=i), "online", i % 4) for i in range(31)]
        + [DayChannel(period.first + timedelta(days=i), "visit", 1) for i in range(0, 31, 3)],
        category_county=category_county
        if category_county is not None
        else {("wage_arrears", "150207"): 12, ("wage_arrears", "150203"): 15, ("housing", "150203"): 4},
        previous_category_county=previous_category_county
        if previous_category_county is not None
        else {("wage_arrears", "150207"): 7, ("wage_arrears", "150203"): 13, ("housing", "150203"): 5},
        units=units
        if units is not None
        else [
            UnitMeasures("150207:hrss", 5, 4, 4, 1, 6, 5),
            UnitMeasures("150203:housing", 3, 3, 2, 2, 3, 3),
            UnitMeasures("150203:gov", 1, 0, 1, 0, 1, 0),
        ],
        deadlines=[DeadlineDay(period.first + timedelta(days=i), i % 3, (i % 3) // 2, i // 5) for i in range(31)],
        backlog_now=4,
        durations={"route": [0.01, 0.02, 0.5], "accept": [3.0, 5.5, 9.0, 14.0], "reply": [20.0, 41.0, 55.0]},
    )


def test_change_words() -> None:
    assert change(27, 20) == ("增加35%", "up 35%")
    assert change(10, 20) == ("减少50%", "down 50%")
    assert change(5, 0) == ("新增", "new")
    assert change(200, 200) == ("持平", "level")


def test_the_category_that_changed_most_and_where_from() -> None:
    sentence = category_change(situation(), lambda code: {"150207": "九原区", "150203": "昆都仑区"}[code])
    assert sentence is not None
    assert sentence.zh == "“拖欠工资”类增加35%（20→27件），主要来自九原区（+5件）。"
    assert sentence.en == "wage arrears cases up 35% on the previous period (20 → 27), mostly from 九原区 (+5)."


def test_a_fall_names_where_it_fell() -> None:
    s = situation(
        category_county={("housing", "150203"): 2},
        previous_category_county={("housing", "150203"): 9, ("housing", "150207"): 1},
    )
    sentence = category_change(s, lambda code: code)
    assert sentence is not None and sentence.zh == "“住房/物业”类减少80%（10→2件），主要是150203（-7件）。"


def test_no_change_no_sentence() -> None:
    same = {("housing", "150203"): 3}
    assert category_change(situation(same, dict(same)), str) is None


def test_weakest_unit_needs_enough_cases_due() -> None:
    s = situation()
    sentence = weakest_unit(s, unit_namer(RULES))
    assert sentence is not None and sentence.zh == "按期办结率最低的是九原区人力资源和社会保障（1/4，25%）。"
    lone_miss = situation(units=[UnitMeasures("150203:gov", 1, 0, 1, 0, 1, 0)])
    assert weakest_unit(lone_miss, str) is None


def test_main_changes_are_computed_from_the_numbers() -> None:
    sentences = main_changes(situation(), lambda code: code, str)
    text = " ".join(s.zh for s in sentences)
    assert "本期受理信访事项412件、733人次，比上期增加8%（上期380件）。" in text
    assert "办结率70.0%（210/300）；" in text  # the previous period has no closure rate: no comparison
    assert "到期结案率83.3%（150/180），与上期持平。" in text
    assert "本期到期的办理期限30件，逾期20件；期末逾期未答复6件，当前积案4件。" in text


def test_charts_draw_their_data() -> None:
    days = [date(2026, 10, 1) + timedelta(days=i) for i in range(10)]
    pictures = [
        charts.daily_lines(days, {"网上 online": list(range(10))}, ylabel="批次 batches"),
        charts.ranked_bars([Bar("拖欠工资", 27, 20), Bar("住房/物业", 4, 5)], xlabel="批次", legend=("本期", "上期")),
        charts.ranked_bars([Bar("九原区人社", 0.25, note="25%（1/4）"), Bar("某单位", 0.0)], xlabel="率", percent=True),
        charts.deadlines(days, [1] * 10, [0, 1] * 5, list(range(10))),
        charts.durations({"route": [0.1, 0.2], "accept": [3.0, 4.0], "reply": [20.0]}),
    ]
    for png in pictures:
        assert png.startswith(b"\x89PNG") and len(png) < 120_000
        assert coloured(png) > 0.003


def test_a_chart_without_data_says_so_and_has_no_marks() -> None:
    png = charts.ranked_bars([], xlabel="批次")
    assert coloured(png) == 0


def test_a_missing_glyph_fails_the_chart() -> None:
    with pytest.raises(fonts.MissingGlyph, match="2B81D"):
        charts.ranked_bars([Bar("\U0002b81d区", 3)], xlabel="批次")
    with pytest.raises(fonts.MissingGlyph):
        fonts.check_text("九原区\U0002b81d")
    assert fonts.missing("九原区 Jiuyuan\n") == []


def embedded_font(page: str) -> TTFont:
    match = re.search(r'src: url\("data:font/otf;base64,([A-Za-z0-9+/=]+)"\)', page)
    assert match, "the report embeds its font"
    return TTFont(io.BytesIO(base64.b64decode(match.group(1))))


ODD = "<script>alert(1)</script>$\\nocommand{x}$"  # markup, and TeX that matplotlib would refuse to parse


def test_the_document_is_self_contained_and_its_font_has_every_glyph() -> None:
    report = situation()
    odd_category = PeriodReport(**{**report.current.__dict__, "by_category": [volume(ODD, 9)]})
    page = document(
        Situation(**{**report.__dict__, "current": odd_category}),
        rules_dir=RULES,
        generated=datetime(2026, 11, 1, 9, tzinfo=UTC),
    )
    assert "<script>" not in page, "names from the data are escaped"
    assert page.count('<img class="chart-image"') == 7
    assert not re.search(r'(src|href)="(?!data:)', page), "nothing is fetched when the file is opened"
    assert "信访形势分析 · 2026年10月" in page and "“拖欠工资”类增加35%" in page
    cmap = embedded_font(page).getBestCmap()
    text = re.sub(r"<[^>]+>", " ", page.split("<body>", 1)[1])
    lacking = {ch for ch in text if not ch.isspace() and ord(ch) not in cmap and ch not in "&;#"}
    assert not lacking
    assert len(page) < 1_500_000


def test_a_change_spread_over_counties_is_not_said_to_come_from_one() -> None:
    s = situation(
        category_county={("housing", "150203"): 2, ("housing", "150207"): 2, ("housing", "150205"): 2},
        previous_category_county={("housing", "150203"): 4, ("housing", "150207"): 4, ("housing", "150205"): 4},
    )
    sentence = category_change(s, lambda code: code)
    assert sentence is not None
    assert sentence.zh == "“住房/物业”类减少50%（12→6件），减量分散在3个县级区划，150207最多（-2件）。"


def test_names_in_charts_are_text_not_tex() -> None:
    assert coloured(charts.ranked_bars([Bar(ODD, 3)], xlabel="$\\frac{1}{2}$")) > 0.003


def test_a_period_too_long_to_chart_is_refused_before_reading_anything(capsys: pytest.CaptureFixture[str]) -> None:
    from services.cli import main

    assert main(["report", "--period", "1900-01-01..2999-12-31", "--html", "--no-files"]) == 2
    assert "401767 days; the charts cover at most 1830" in capsys.readouterr().err
