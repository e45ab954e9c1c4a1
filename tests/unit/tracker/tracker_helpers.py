"""Helpers shared by the tracker unit tests."""

from __future__ import annotations

import argparse
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from services.tracker import cli
from services.tracker.deadlines import DeadlinePolicies, load_policies, parse_policies

REPO = Path(__file__).resolve().parents[3]
RULES = REPO / "rules"
DATA = Path(__file__).parent / "data"
SHANGHAI = ZoneInfo("Asia/Shanghai")


def local(text: str) -> datetime:
    """A Shanghai-local instant from 'YYYY-MM-DD HH:MM'."""
    return datetime.fromisoformat(text).replace(tzinfo=SHANGHAI)


def d(text: str) -> date:
    return date.fromisoformat(text)


def shipped_policies() -> DeadlinePolicies:
    return load_policies(RULES)


BASE_YAML = """\
timezone: Asia/Shanghai
defaults:
  days: {calendar: calendar_days, warning: 3, escalation: {levels: 2, breach_window: 15}}
  hours: {warning: 2, escalation: {levels: 2, breach_window: 12}}
fallback_calendar:
  2027:
    holidays: [2027-01-01, 2027-10-01]
policies:
"""


def policies_from(policies_yaml: str) -> DeadlinePolicies:
    """Policies parsed from BASE_YAML plus an indented `policies:` body."""
    return parse_policies(BASE_YAML + policies_yaml, Path("test-deadlines.yaml"))


def line_of(path: Path, needle: str) -> int:
    """The number of the first line of `path` that contains `needle`."""
    return next(n for n, text in enumerate(path.read_text(encoding="utf-8").splitlines(), 1) if needle in text)


def xf(*argv: str) -> int:
    """`xf` with only the tracker's commands (`xf deadlines …`); the exit code."""
    parser = argparse.ArgumentParser(prog="xf")
    sub = parser.add_subparsers(dest="command", required=True)
    cli.register(sub)
    args = parser.parse_args(list(argv))
    result: int = args.func(args)
    return result
