"""`xf deadlines TIMELINE.json --at ISO-8601 [--rules DIR] [--policy NAME]` (docs/domain.md §10), and
`xf deadlines reapply [--policy NAME] [--stage STAGE] [--case CASE_ID] [--dry-run] --reason TEXT`
(services.tracker.reapply). A timeline file named `reapply` is given as `./reapply`."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
from pydantic import ValidationError

from services.common.db import create_pool
from services.common.settings import Settings, get_settings
from services.tracker import reapply
from services.tracker.deadlines import (
    STAGES,
    DeadlinePolicies,
    PolicyError,
    Timeline,
    TimelineError,
    evaluate_timeline,
    load_policies,
    policy_for,
    timeline_json,
)

EXIT_OK = 0
EXIT_INCOMPLETE = 1  # reapply: some clocks stayed busy (held by a tracker instance); run it again
EXIT_BAD_INPUT = 2
REAPPLY = "reapply"
# Options of reapply only: argparse destination → option.
_REAPPLY_ONLY = {
    "stage": "--stage",
    "cases": "--case",
    "dry_run": "--dry-run",
    "reason": "--reason",
    "actor": "--actor",
    "batch": "--batch",
}


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "deadlines",
        help="evaluate a case timeline's stage deadlines, or re-apply the current policies to running clocks",
        description=(
            "Print each started stage's due date and status at --at as JSON. The policy is --policy, "
            "else the one the timeline names (deadline_policy), else urgent / assignment / standard "
            "by what the timeline carries. Bad input exits 2 naming the field. "
            "`xf deadlines reapply` moves the tracker's running clocks to the current version of their "
            "policy in rules/deadlines.yaml, listing each clock's old and new version and due date, "
            "and records every change in the audit trail; it exits 1 when clocks stayed busy (run it again)."
        ),
    )
    parser.add_argument(
        "timeline",
        metavar="TIMELINE.json|reapply",
        help="a case timeline (a file named reapply: ./reapply), or reapply",
    )
    parser.add_argument(
        "--at",
        default=None,
        help="ISO-8601 instant (no offset: deployment local time); default now",
    )
    parser.add_argument("--rules", type=Path, default=None, metavar="DIR", help="rules directory")
    parser.add_argument(
        "--policy",
        default=None,
        help="deadline policy name (overrides the timeline's); with reapply: only clocks under this policy",
    )
    again = parser.add_argument_group(
        "xf deadlines reapply",
        "running clocks of open cases move to the current version of their policy; completed clocks never "
        "change, paused ones stay paused (see services/tracker/reapply.py)",
    )
    again.add_argument(
        "--stage",
        choices=STAGES,
        default=None,
        metavar="STAGE",
        help=f"only clocks of this stage ({', '.join(STAGES)})",
    )
    again.add_argument(
        "--case", dest="cases", action="append", default=None, metavar="CASE_ID", help="only this case (repeatable)"
    )
    again.add_argument("--dry-run", action="store_true", help="list what would change; write nothing")
    again.add_argument("--reason", default=None, help="why (kept in the audit trail); required unless --dry-run")
    again.add_argument("--actor", default=None, help="who, for the audit trail (default operator:<login name>)")
    again.add_argument(
        "--batch", type=int, default=None, help="clocks per transaction (default XF_TRACKER_REAPPLY_BATCH)"
    )
    parser.set_defaults(func=run_deadlines)


def run_deadlines(args: argparse.Namespace) -> int:
    if args.timeline == REAPPLY:
        return run_reapply(args)
    given = [option for name, option in _REAPPLY_ONLY.items() if getattr(args, name) not in (None, False)]
    if given:
        return _fail(f"{', '.join(given)}: only with `xf deadlines reapply`")
    rules_dir: Path = args.rules or get_settings().rules_dir
    try:
        policies = load_policies(rules_dir)
    except PolicyError as exc:
        return _fail(f"rules: {exc}")
    try:
        at = _parse_at(args.at, policies.timezone)
        timeline = _read_timeline(Path(args.timeline))
        policy_name = args.policy or policy_for(timeline)
        stages = evaluate_timeline(timeline, at, policies, policy_name)
    except (ValueError, PolicyError, TimelineError) as exc:
        return _fail(str(exc))
    json.dump(timeline_json(timeline, stages, policies.timezone), sys.stdout, ensure_ascii=False, indent=2)
    sys.stdout.write("\n")
    return EXIT_OK


def run_reapply(args: argparse.Namespace) -> int:
    settings = get_settings()
    if args.at is not None:
        return _fail("--at: reapply works on the clocks as they are now")
    try:
        policies = load_policies(args.rules or settings.rules_dir)
    except PolicyError as exc:
        return _fail(f"rules: {exc}")
    if args.policy is not None and args.policy not in policies.policies:
        return _fail(f"--policy: unknown deadline policy {args.policy!r} (known: {', '.join(policies.names)})")
    reason = (args.reason or "").strip()
    if not args.dry_run and not reason:
        return _fail("--reason: say why (it is kept in the audit trail with each change), or use --dry-run")
    batch = args.batch if args.batch is not None else settings.tracker_reapply_batch
    if batch < 1:
        return _fail("--batch: at least 1")
    filters = reapply.Filters(args.policy, args.stage, tuple(args.cases) if args.cases else None)
    print(
        f"deadline policies from {policies.path} (file version {policies.version})"
        + (" (dry run: nothing is written)" if args.dry_run else "")
    )
    try:
        report = asyncio.run(
            _reapply(
                settings,
                policies,
                filters,
                dry_run=args.dry_run,
                actor=args.actor or _operator(),
                reason=reason,
                batch=batch,
            )
        )
    except asyncpg.UndefinedTableError:
        return _fail("the tracker's tables do not exist in this database yet (start the tracker once)")
    except (OSError, asyncpg.PostgresError) as exc:
        print(f"xf deadlines reapply: database: {exc}", file=sys.stderr)
        return EXIT_INCOMPLETE
    verb = "would move" if args.dry_run else "moved"
    print(f"{verb} {report.changed} running clock(s) to the current policy; {report.skipped} skipped", end="")
    if report.busy:
        print(f"; {report.busy} busy (held by the tracker): run it again")
        return EXIT_INCOMPLETE
    print()
    return EXIT_OK


async def _reapply(
    settings: Settings,
    policies: DeadlinePolicies,
    filters: reapply.Filters,
    *,
    dry_run: bool,
    actor: str,
    reason: str,
    batch: int,
) -> reapply.Report:
    pool = await create_pool(settings.dsn, "tracker", min_size=1, max_size=2)
    try:

        def emit(change: reapply.Change) -> None:
            print(reapply.describe(change, datetime.now(UTC)), flush=True)

        return await reapply.reapply(
            pool, policies, filters=filters, dry_run=dry_run, actor=actor, reason=reason, batch=batch, emit=emit
        )
    finally:
        await pool.close()


def _operator() -> str:
    try:
        return f"operator:{getpass.getuser()}"
    except (OSError, KeyError):
        return "operator"


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
