"""`xf deadlines TIMELINE.json --at ISO-8601 [--rules DIR] [--policy NAME]` (DOMAIN.md §4.6)."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from services.common.settings import get_settings
from services.tracker.deadlines import (
    PolicyError,
    Timeline,
    TimelineError,
    evaluate_timeline,
    load_policies,
    policy_for,
    timeline_json,
)

EXIT_OK = 0
EXIT_BAD_INPUT = 2


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "deadlines",
        help="evaluate a case timeline's stage deadlines at an instant",
        description=(
            "Print each started stage's due date and status at --at as JSON. The policy is --policy, "
            "else the one the timeline names (deadline_policy), else urgent / assignment / standard "
            "by what the timeline carries. Bad input exits 2 naming the field."
        ),
    )
    parser.add_argument("timeline", type=Path, metavar="TIMELINE.json")
    parser.add_argument(
        "--at",
        default=None,
        help="ISO-8601 instant (no offset: deployment local time); default now",
    )
    parser.add_argument("--rules", type=Path, default=None, metavar="DIR", help="rules directory")
    parser.add_argument("--policy", default=None, help="deadline policy name (overrides the timeline)")
    parser.set_defaults(func=run_deadlines)


def run_deadlines(args: argparse.Namespace) -> int:
    rules_dir: Path = args.rules or get_settings().rules_dir
    try:
        policies = load_policies(rules_dir)
    except PolicyError as exc:
        return _fail(f"rules: {exc}")
    try:
        at = _parse_at(args.at, policies.timezone)
        timeline = _read_timeline(args.timeline)
        policy_name = args.policy or policy_for(timeline)
        stages = evaluate_timeline(timeline, at, policies, policy_name)
    except (ValueError, PolicyError, TimelineError) as exc:
        return _fail(str(exc))
    json.dump(timeline_json(timeline, stages, policies.timezone), sys.stdout, ensure_ascii=False, indent=2)
    sys.stdout.write("\n")
    return EXIT_OK


def _parse_at(raw: str | None, tz: Any) -> datetime:
    if raw is None:
        return datetime.now(tz)
    try:
        at = datetime.fromisoformat(raw)
    except ValueError:
        raise ValueError(f"--at: not an ISO-8601 date-time: {raw!r}") from None
    return at if at.tzinfo is not None else at.replace(tzinfo=tz)


def _read_timeline(path: Path) -> Timeline:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ValueError(f"{path}: cannot read: {exc.strerror or exc}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}:{exc.lineno}: invalid JSON: {exc.msg}") from None
    try:
        return Timeline.model_validate(data)
    except ValidationError as exc:
        raise ValueError("\n".join(_describe(err) for err in exc.errors())) from None


def _describe(err: Any) -> str:
    field = ""
    for part in err["loc"]:
        field += f"[{part}]" if isinstance(part, int) else (f".{part}" if field else str(part))
    return f"{field or '(timeline)'}: {err['msg']}"


def _fail(message: str) -> int:
    print(f"xf deadlines: {message}", file=sys.stderr)
    return EXIT_BAD_INPUT
