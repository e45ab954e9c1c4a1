"""`xf report --period 2026-10`: the period statistics of docs/domain.md §9, from the tracker's SQL views."""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg

from services.common.settings import Settings, get_settings
from services.report import render
from services.report.data import PeriodReport, load
from services.report.period import Period, PeriodError, parse_period

# The situation report draws one point per day: five years at most.
MAX_CHART_DAYS = 5 * 366


def write_files(report: PeriodReport, directory: Path) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    stem = f"xinfang-{report.period.label}"
    files = {
        directory / f"{stem}.csv": render.measures_csv(report),
        directory / f"{stem}-volume.csv": render.volume_csv(report),
    }
    for path, text in files.items():
        path.write_text(text, encoding="utf-8-sig")
    markdown = directory / f"{stem}.md"
    markdown.write_text(render.markdown(report), encoding="utf-8")
    return [*files, markdown]


def write_pictures(settings: Settings, period: Period, directory: Path, *, pdf: bool) -> list[Path]:
    """The situation report as HTML (and PDF): charts and the generated text of the main changes."""
    from services.report.document import document
    from services.report.pdf import print_pdf
    from services.report.situation import load_situation

    situation = asyncio.run(load_situation(settings.dsn, period))
    generated = datetime.now(UTC).astimezone(ZoneInfo(situation.current.timezone))
    directory.mkdir(parents=True, exist_ok=True)
    html_file = directory / f"xinfang-{period.label}.html"
    html_file.write_text(document(situation, rules_dir=settings.rules_dir, generated=generated), encoding="utf-8")
    written = [html_file]
    if pdf:
        written.append(print_pdf(html_file, html_file.with_suffix(".pdf")))
    return written


def run(args: argparse.Namespace) -> int:
    settings = get_settings()
    try:
        period = parse_period(args.period, today=datetime.now(ZoneInfo(settings.timezone)).date())
    except PeriodError as error:
        print(f"xf report: --period {error}", file=sys.stderr)
        return 2
    if (args.html or args.pdf) and period.days > MAX_CHART_DAYS:
        print(
            f"xf report: --period {period.label}: {period.days} days; the charts cover at most {MAX_CHART_DAYS}",
            file=sys.stderr,
        )
        return 2
    try:
        report = asyncio.run(load(settings.dsn, period))
    except (OSError, asyncpg.PostgresError) as error:
        print(
            f"xf report: cannot read the tracker's views at {settings.host}:{settings.pg_port}: {error}",
            file=sys.stderr,
        )
        return 1
    sys.stdout.write(render.terminal(report, top=args.top))
    if not args.no_files:
        for path in write_files(report, args.out):
            print(f"wrote {path}")
    if args.html or args.pdf:
        from services.report.fonts import MissingFont, MissingGlyph
        from services.report.pdf import PdfError

        try:
            written = write_pictures(settings, period, args.out, pdf=args.pdf)
        except (MissingFont, MissingGlyph, PdfError) as error:
            print(f"xf report: {error}", file=sys.stderr)
            return 1
        for path in written:
            print(f"wrote {path}")
    return 0


def register(sub: Any) -> None:
    parser = sub.add_parser("report", help="print and save the period statistics (docs/domain.md §9)")
    parser.add_argument(
        "--period",
        required=True,
        help="2026-10 (a month), 2026-Q4, 2026, 2026-10-01..2026-10-15 (local dates), or last-month",
    )
    parser.add_argument("--out", type=Path, default=Path("reports"), help="directory for the CSV and Markdown files")
    parser.add_argument("--top", type=int, default=10, help="rows of each breakdown printed (the files have all)")
    parser.add_argument("--no-files", action="store_true", help="print only (no CSV and Markdown)")
    parser.add_argument(
        "--html", action="store_true", help="also write the situation report with charts (xinfang-PERIOD.html)"
    )
    parser.add_argument("--pdf", action="store_true", help="also write it as PDF (implies --html; needs chromium)")
    parser.set_defaults(func=run)
