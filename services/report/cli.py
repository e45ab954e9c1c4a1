"""`xf report --period 2026-10`: the period statistics of DOMAIN.md §7, from the tracker's SQL views."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any

import asyncpg

from services.common.settings import get_settings
from services.report import render
from services.report.data import PeriodReport, load
from services.report.period import PeriodError, parse_period


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


def run(args: argparse.Namespace) -> int:
    try:
        period = parse_period(args.period)
    except PeriodError as error:
        print(f"xf report: --period {error}", file=sys.stderr)
        return 2
    settings = get_settings()
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
    return 0


def register(sub: Any) -> None:
    parser = sub.add_parser("report", help="print and save the period statistics (DOMAIN.md §7)")
    parser.add_argument(
        "--period", required=True, help="2026-10 (a month), 2026-Q4, 2026, or 2026-10-01..2026-10-15 (local dates)"
    )
    parser.add_argument("--out", type=Path, default=Path("reports"), help="directory for the CSV and Markdown files")
    parser.add_argument("--top", type=int, default=10, help="rows of each breakdown printed (the files have all)")
    parser.add_argument("--no-files", action="store_true", help="print only")
    parser.set_defaults(func=run)
