"""`xf stack up|down|status|logs`: the local stack of real parts, on the ports of the XF_* settings."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from services.common.settings import Settings
from services.stack import processes
from services.stack.errors import StackError
from services.stack.kafka_cli import register_kafka_config
from services.stack.stack import ALL_PARTS, INFRA_PARTS, down, status, up

DEFAULT_LOG_LINES = 50


def parse_parts(text: str) -> tuple[str, ...]:
    """'kafka,postgres' → ('kafka', 'postgres'), in dependency order; unknown names are refused."""
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in ALL_PARTS]
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"unknown part(s) {', '.join(unknown) or '(none)'}; choose from {','.join(ALL_PARTS)}"
        )
    return tuple(name for name in ALL_PARTS if name in names)


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `xf stack` and its actions to the `xf` sub-parsers."""
    stack = sub.add_parser(
        "stack",
        help="run Kafka, PostgreSQL, Prometheus and the services locally",
        description="The local stack of real parts. Data, logs and pid files live in XF_STACK_DIR.",
    )
    actions = stack.add_subparsers(dest="stack_action", required=True, metavar="ACTION")

    up_parser = actions.add_parser("up", help="start the parts that are not running, wait until ready")
    add_part_options(up_parser)
    up_parser.set_defaults(func=run_up)

    down_parser = actions.add_parser("down", help="stop the parts, in reverse order")
    add_part_options(down_parser)
    down_parser.set_defaults(func=run_down)

    status_parser = actions.add_parser("status", help="show what runs; exit 0 when all requested parts run")
    add_part_options(status_parser)
    status_parser.set_defaults(func=run_status)

    logs_parser = actions.add_parser("logs", help="print the end of a part's log")
    logs_parser.add_argument("part", choices=ALL_PARTS, metavar="PART", help=", ".join(ALL_PARTS))
    logs_parser.add_argument("-n", type=int, default=DEFAULT_LOG_LINES, metavar="N", help="lines to show")
    logs_parser.set_defaults(func=run_logs)

    register_kafka_config(actions)


def add_part_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--only", type=parse_parts, metavar="PARTS", help=f"comma-separated, from {','.join(ALL_PARTS)}")
    group.add_argument("--infra", action="store_true", help="only " + ", ".join(INFRA_PARTS))


def chosen_parts(args: argparse.Namespace) -> tuple[str, ...]:
    if args.only:
        only: tuple[str, ...] = args.only
        return only
    return INFRA_PARTS if args.infra else ALL_PARTS


def run_up(args: argparse.Namespace) -> int:
    return reporting_errors(lambda: up(Settings(), chosen_parts(args)))


def run_down(args: argparse.Namespace) -> int:
    return reporting_errors(lambda: down(Settings(), chosen_parts(args)))


def run_status(args: argparse.Namespace) -> int:
    settings = Settings()
    print(f"stack directory: {settings.stack_dir}")
    rows = status(settings, chosen_parts(args))
    for row in rows:
        state = f"running (pid {row.pid})" if row.running else "stopped"
        print(f"{row.name:<10} {state:<20} {row.address}  log: {row.log_file}")
    return 0 if all(row.running for row in rows) else 1


def run_logs(args: argparse.Namespace) -> int:
    path = processes.log_file(Settings().stack_dir, args.part)
    if not path.exists():
        print(f"xf stack: no log yet at {path}; start it with `xf stack up --only {args.part}`", file=sys.stderr)
        return 1
    print(processes.tail(path, args.n))
    return 0


def reporting_errors(action: Callable[[], None]) -> int:
    try:
        action()
    except StackError as exc:
        print(f"xf stack: {exc}", file=sys.stderr)
        return 1
    return 0
