"""`xf`: the one command-line entry point. Each area registers its own sub-commands."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Sequence

# Modules that expose `register(subparsers)`; each adds its commands and sets `func` on them.
COMMAND_MODULES: tuple[str, ...] = (
    "services.stack.cli",
    "services.stack.kafka_cli",
    "services.router.cli",
    "services.tracker.cli",
    "services.intake.cli",
    "services.demo.cli",
    "services.dashboards.cli",
    "services.report.cli",
    "services.deadletters.cli",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="xf", description="xinfang: route and track public petitions")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    func: Callable[[argparse.Namespace], int] = args.func
    return func(args)


if __name__ == "__main__":
    sys.exit(main())
