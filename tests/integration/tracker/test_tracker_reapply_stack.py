"""`xf deadlines reapply` against the running tracker: running clocks move to the edited policy, audited;
completed clocks stay; the scanner alerts again for a new due date and never twice for the same one;
clocks a tracker holds are left for a later pass."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path

import asyncpg
from polling import eventually
from tracker_events import case_id, days_ago, lifecycle, publish, read_topic, received, routed

from services.common.db import create_pool
from services.common.settings import PROJECT_ROOT, Settings
from services.stack.apps import settings_environment
from services.tracker import alerting, reapply
from services.tracker.clock import due_for
from services.tracker.policy import DeadlinePolicies, load_policies

REASON = "省里缩短了办理期限 / the province shortened handling"


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, old
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def xf(settings: Settings, *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "services.cli", "deadlines", "reapply", *argv],
        cwd=PROJECT_ROOT,
        env={**os.environ, **settings_environment(settings)},
        capture_output=True,
        text=True,
        timeout=120,
    )


def cases_args(*cases: str) -> list[str]:
    return [arg for case in cases for arg in ("--case", case)]


async def clock(db: asyncpg.Connection, case: str, stage: str) -> asyncpg.Record:
    row: asyncpg.Record | None = await db.fetchrow(
        "SELECT * FROM clocks WHERE case_id = $1 AND stage = $2", case, stage
    )
    assert row is not None, f"no {stage} clock for {case}"
    return row


def due(policies: DeadlinePolicies, stage: str, started_at: datetime) -> datetime:
    return due_for(stage, started_at, policies.get("standard")).due_at


async def test_running_clocks_move_to_the_edited_policy_and_the_scanner_follows(
    tracker_rules: Settings, db: asyncpg.Connection
) -> None:
    deadlines = tracker_rules.rules_dir / "deadlines.yaml"
    shipped = load_policies(tracker_rules.rules_dir)
    # Received 40 days ago: route overdue and escalated twice. 5 days ago: route open. 20 days ago,
    # accepted 18 days ago and paused 10 days ago: handle paused. 14 days ago: route warned or open.
    overdue, fresh, paused, later = (case_id("RPA") for _ in range(4))
    received_at = {overdue: days_ago(40), fresh: days_ago(5), paused: days_ago(20), later: days_ago(14)}
    accepted_at, paused_at = days_ago(18), days_ago(10)
    await publish(
        tracker_rules,
        [received(case, at) for case, at in received_at.items()]
        + [
            routed(paused, received_at[paused], received_at[paused] + timedelta(hours=1)),
            lifecycle(paused, "accepted", accepted_at),
            lifecycle(paused, "paused", paused_at, reason="hearing"),
        ],
    )

    async def settled() -> bool:
        ladder = await db.fetchval("SELECT alert_level FROM clocks WHERE case_id = $1 AND stage = 'route'", overdue)
        handle = await db.fetchval("SELECT paused_since FROM clocks WHERE case_id = $1 AND stage = 'handle'", paused)
        n = await db.fetchval("SELECT count(*) FROM clocks WHERE case_id = ANY($1::text[])", [fresh, later])
        return ladder == alerting.OVERDUE + 2 and handle is not None and n == 2

    await eventually(settled, timeout=40, what="the cases applied and the overdue one escalated twice")
    before = {
        (r["case_id"], r["stage"]): r
        for r in await db.fetch("SELECT * FROM clocks WHERE case_id = ANY($1::text[])", list(received_at))
    }
    original_due = before[(overdue, "route")]["due_at"]

    # A province gives routing 50 days and handling 30.
    edit(deadlines, "route: {limit: 15}", "route: {limit: 50}")
    edit(deadlines, "handle: {limit: 60", "handle: {limit: 30")
    edited = load_policies(tracker_rules.rules_dir)
    new_version = edited.get("standard").version

    dry = xf(tracker_rules, "--dry-run", *cases_args(overdue, fresh, paused))
    assert dry.returncode == 0, dry.stderr
    lines = dry.stdout.splitlines()
    assert "dry run: nothing is written" in lines[0]
    assert lines[-1] == "would move 3 running clock(s) to the current policy; 0 skipped"
    listed = {tuple(line.split()[:2]) for line in lines[1:-1]}
    assert listed == {(overdue, "route"), (fresh, "route"), (paused, "handle")}
    overdue_line = next(line for line in lines if line.startswith(overdue))
    old_day = before[(overdue, "route")]["due_date"].isoformat()
    new_day = due(edited, "route", received_at[overdue]).astimezone(edited.timezone).date().isoformat()
    assert f"due {old_day} → {new_day}" in overdue_line
    assert f"{before[(overdue, 'route')]['policy_version'][:15]} → {new_version[:15]}" in overdue_line
    unchanged = await db.fetch("SELECT policy_version FROM clocks WHERE case_id = ANY($1::text[])", list(received_at))
    assert {r["policy_version"] for r in unchanged} == {shipped.get("standard").version}
    # Completed clocks are never candidates.
    none = xf(tracker_rules, "--dry-run", "--stage", "accept", *cases_args(paused))
    assert none.stdout.splitlines()[-1] == "would move 0 running clock(s) to the current policy; 0 skipped"

    done = xf(tracker_rules, "--reason", REASON, "--actor", "operator:test", *cases_args(overdue, fresh, paused))
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == "moved 3 running clock(s) to the current policy; 0 skipped"

    moved = await clock(db, overdue, "route")
    assert moved["policy_version"] == new_version
    assert moved["due_at"] == due(edited, "route", received_at[overdue]) > datetime.now(edited.timezone)
    assert (moved["alert_level"], moved["next_alert_at"]) == (0, moved["warn_at"])  # the new date's ladder
    assert (await clock(db, fresh, "route"))["due_at"] == due(edited, "route", received_at[fresh])
    handle = await clock(db, paused, "handle")
    assert handle["paused_since"] == paused_at and handle["next_alert_at"] is None  # still paused
    assert handle["due_at"] == due(edited, "handle", accepted_at)  # as of the pause, under the new policy
    assert handle["policy_version"] == new_version
    for stage in ("route", "accept"):  # completed: never changed
        assert (await clock(db, paused, stage))["policy_version"] == before[(paused, stage)]["policy_version"]
    assert (await clock(db, later, "route"))["policy_version"] == before[(later, "route")]["policy_version"]
    assert await db.fetchval("SELECT count(*) FROM policy_snapshots WHERE version = $1", new_version) == 1

    audit = await db.fetch(
        "SELECT * FROM audit_log WHERE event_type = 'policy_reapplied' AND case_id = ANY($1::text[])",
        list(received_at),
    )
    assert len(audit) == 3
    assert {(r["actor"], r["outcome"], r["policy_version"]) for r in audit} == {
        ("operator:test", "applied", new_version)
    }
    details = {(r["case_id"], json.loads(r["detail"])["stage"]): json.loads(r["detail"]) for r in audit}
    assert details[(overdue, "route")]["old_due_date"] == old_day
    assert details[(overdue, "route")]["new_due_date"] == new_day
    assert details[(overdue, "route")]["old_alert_level"] == alerting.OVERDUE + 2
    assert details[(paused, "handle")]["paused"] is True
    assert {d["reason"] for d in details.values()} == {REASON}

    # Back to 15 days: the due date it was escalated for returns, and nothing is raised again.
    edit(deadlines, "route: {limit: 50}", "route: {limit: 15}")
    back = xf(tracker_rules, "--reason", "back to 15 days", *cases_args(overdue))
    assert back.returncode == 0, back.stderr
    row = await clock(db, overdue, "route")
    assert row["due_at"] == original_due
    assert (row["alert_level"], row["next_alert_at"]) == (alerting.OVERDUE + 2, None)
    await asyncio.sleep(1.5)  # several scan rounds
    assert await db.fetchval("SELECT count(*) FROM alerts WHERE case_id = $1", overdue) == 3
    events = await read_topic(tracker_rules, "case.alert", keys={overdue})
    assert len(events) == 3 and max(Counter(e["id"] for e in events).values()) == 1

    # Five days: the later case is overdue at once, and raised for its new date, once.
    edit(deadlines, "route: {limit: 15}", "route: {limit: 5}")
    short = xf(tracker_rules, "--reason", "five days", "--policy", "standard", "--stage", "route", *cases_args(later))
    assert short.returncode == 0, short.stderr
    assert "overdue now" in short.stdout
    new_due = due(load_policies(tracker_rules.rules_dir), "route", received_at[later])
    assert (await clock(db, later, "route"))["due_at"] == new_due

    async def raised_for_the_new_date() -> list[tuple[str, int]] | None:
        rows = await db.fetch(
            "SELECT kind, escalation_level FROM alerts WHERE case_id = $1 AND due_at = $2 ORDER BY threshold_at",
            later,
            new_due,
        )
        found = [(r["kind"], r["escalation_level"]) for r in rows]
        return found if len(found) >= 2 else None

    assert await eventually(raised_for_the_new_date, what="the new date's alerts") == [
        ("overdue", 0),
        ("escalated", 1),
    ]
    assert (await clock(db, later, "route"))["alert_level"] == alerting.OVERDUE + 1


async def test_clocks_a_tracker_holds_are_left_for_a_later_pass(
    tracker_rules: Settings, db: asyncpg.Connection
) -> None:
    free, held = case_id("RPB"), case_id("RPB")
    await publish(tracker_rules, [received(free, days_ago(3)), received(held, days_ago(3))])

    async def both() -> bool:
        n = await db.fetchval("SELECT count(*) FROM clocks WHERE case_id = ANY($1::text[])", [free, held])
        return n == 2

    await eventually(both, what="both route clocks")
    edit(tracker_rules.rules_dir / "deadlines.yaml", "rereview: {limit: 30}", "rereview: {limit: 29}")
    policies = load_policies(tracker_rules.rules_dir)
    version = policies.get("standard").version
    filters = reapply.Filters(cases=(free, held))
    pool = await create_pool(tracker_rules.dsn, "tracker", max_size=2)
    lock = await asyncpg.connect(tracker_rules.dsn, server_settings={"search_path": "tracker"})
    try:
        transaction = lock.transaction()
        await transaction.start()
        await lock.execute("SELECT 1 FROM clocks WHERE case_id = $1 FOR UPDATE", held)
        report = await reapply.reapply(
            pool, policies, filters=filters, dry_run=False, actor="test", reason="t", busy_retries=1, busy_wait=0.1
        )
        assert (report.changed, report.skipped, report.busy) == (1, 0, 1)
        assert (await clock(db, free, "route"))["policy_version"] == version
        assert (await clock(db, held, "route"))["policy_version"] != version
        await transaction.commit()
        report = await reapply.reapply(pool, policies, filters=filters, dry_run=False, actor="test", reason="t")
        assert (report.changed, report.busy) == (1, 0)
        assert (await clock(db, held, "route"))["policy_version"] == version
    finally:
        await lock.close()
        await pool.close()
