"""`xf dashboards`: write the Grafana dashboards from their definitions, or check the committed ones."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any


def run(args: argparse.Namespace) -> int:
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
        help="write the Grafana dashboards (deploy/grafana/dashboards/*.json) from services/dashboards",
    )
    parser.add_argument("--check", action="store_true", help="only check that the files are up to date (exit 1 if not)")
    parser.add_argument("--out", type=Path, default=None, help="directory (default: deploy/grafana/dashboards)")
    parser.set_defaults(func=run)
