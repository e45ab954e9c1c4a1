"""`xf dashboards`: write the Grafana dashboards from their definitions, or check the committed ones;
`xf dashboards preview`: draw every panel from the running Prometheus and PostgreSQL as PNG images."""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

PREVIEW_DIR = Path("reports") / "dashboards"


def preview(args: argparse.Namespace) -> int:
    import asyncpg

    from services.common.settings import get_settings
    from services.dashboards.boards import BOARDS
    from services.dashboards.preview import draw
    from services.dashboards.preview_data import fetch_boards
    from services.report.fonts import MissingFont, MissingGlyph

    settings = get_settings()
    directory: Path = args.out or PREVIEW_DIR
    directory.mkdir(parents=True, exist_ok=True)
    end = datetime.now(UTC)
    generated = end.astimezone(ZoneInfo(settings.timezone))
    failed = 0
    try:
        fetched = asyncio.run(fetch_boards(settings, BOARDS, end))
    except (OSError, asyncpg.PostgresError) as error:
        print(
            f"xf dashboards preview: cannot read PostgreSQL at {settings.host}:{settings.pg_port}: {error}",
            file=sys.stderr,
        )
        return 1
    for board, data in zip(BOARDS, fetched, strict=True):
        for title, panel in data.items():
            if panel.error:
                failed += 1
                print(f"{board.uid}: {title}: {panel.error}", file=sys.stderr)
            elif panel.empty:
                print(f"{board.uid}: {title}: no data")
        try:
            png = draw(board, data, generated=generated)
        except (MissingFont, MissingGlyph) as error:
            print(f"xf dashboards preview: {error}", file=sys.stderr)
            return 1
        path = directory / f"{board.uid}.png"
        path.write_bytes(png)
        print(f"wrote {path}")
    if failed:
        print(
            f"xf dashboards preview: {failed} panels could not be queried (is the stack running? `xf stack status`)",
            file=sys.stderr,
        )
        return 1
    return 0


def run(args: argparse.Namespace) -> int:
    if args.action == "preview":
        return preview(args)
    # The SDK is a development dependency: import it only when this command runs.
    from services.dashboards import render

    directory: Path = args.out or render.DASHBOARD_DIR
    if args.check:
        problems = render.stale(directory)
        for problem in problems:
            print(f"{directory}/{problem}")
        if problems:
            print("regenerate them with: xf dashboards")
            return 1
        print(f"{directory}: up to date")
        return 0
    for path in render.write(directory):
        print(f"wrote {path}")
    return 0


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "dashboards",
        help="write the Grafana dashboards (deploy/grafana/dashboards/*.json) from services/dashboards, "
        "or `preview` them as PNG from live data",
    )
    parser.add_argument(
        "action",
        nargs="?",
        choices=["preview"],
        help="preview: draw every panel from the running Prometheus and PostgreSQL, one PNG per dashboard",
    )
    parser.add_argument("--check", action="store_true", help="only check that the files are up to date (exit 1 if not)")
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help=f"directory (default: deploy/grafana/dashboards; for preview: {PREVIEW_DIR})",
    )
    parser.set_defaults(func=run)
