"""`xf report --period YYYY-MM` on the stack after the demo workload: the numbers are the tracker's views'."""

from __future__ import annotations

import asyncio
import csv
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from operators_demo import DemoRun, previous_month

from services.cli import main
from services.report.period import parse_period
from services.report.vocabulary import MEASURES


def statistics(run: DemoRun, period: str) -> dict[str, Any]:
    p = parse_period(period)

    async def fetch() -> dict[str, Any]:
        conn = await asyncpg.connect(run.settings.dsn)
        try:
            row = await conn.fetchrow("SELECT * FROM tracker.period_statistics($1, $2)", p.first, p.last)
            assert row is not None
            return dict(row)
        finally:
            await conn.close()

    return asyncio.run(fetch())


def test_report_of_last_month(
    demo_run: DemoRun, cli_settings: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    period = previous_month(demo_run)
    assert main(["report", "--period", period, "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    expected = statistics(demo_run, period)
    assert expected["batches"] > 0 and expected["accepted"] > 0, "the demo back-dates cases into last month"

    assert f"Period statistics {period}" in out
    batches_line = next(line for line in out.splitlines() if line.startswith("批次"))
    assert batches_line.split()[-1] == str(expected["batches"])

    with (tmp_path / f"xinfang-{period}.csv").open(encoding="utf-8-sig") as f:
        rows = {r["measure"]: r for r in csv.DictReader(f)}
    assert list(rows) == [m.column for m in MEASURES]
    for measure in MEASURES:
        value = expected[measure.column]
        assert rows[measure.column]["value"] == ("" if value is None else str(value)), measure.column
        if measure.numerator:
            assert rows[measure.column]["numerator"] == str(expected[measure.numerator])

    with (tmp_path / f"xinfang-{period}-volume.csv").open(encoding="utf-8-sig") as f:
        volume = list(csv.DictReader(f))
    for breakdown in ("channel", "category", "county"):
        # The breakdowns (tracker.daily_volume) add up to the period's totals (tracker.period_statistics).
        assert sum(int(r["batches"]) for r in volume if r["breakdown"] == breakdown) == expected["batches"]
        assert sum(int(r["person_times"]) for r in volume if r["breakdown"] == breakdown) == expected["person_times"]

    markdown = (tmp_path / f"xinfang-{period}.md").read_text(encoding="utf-8")
    assert markdown.count("\n## ") == 4 and f"| 批次 Batches (cases received) | {expected['batches']} |" in markdown


def test_report_refuses_a_bad_period(cli_settings: None, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", "--period", "2026-13", "--no-files"]) == 2
    assert "--period 2026-13: month must be in 1..12" in capsys.readouterr().err
