"""The running tracker picks up edited rule files: deadline policies for new clocks, the organisation
directory for escalations; a broken file is refused and the last good version keeps running."""

from __future__ import annotations

import asyncio
from datetime import date, datetime
from pathlib import Path

import asyncpg
import httpx
from polling import eventually
from prometheus_client.parser import text_string_to_metric_families
from tracker_events import SHANGHAI, case_id, days_ago, publish, read_topic, received

from services.common.settings import Settings
from services.tracker.policy import load_policies

UNIT = "150627:petition"  # receives the test cases: the route stage is its


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, old
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


async def reloads(settings: Settings, file: str, outcome: str) -> float:
    async with httpx.AsyncClient() as client:
        text = (await client.get(f"http://{settings.host}:{settings.tracker_port}/metrics")).text
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "xf_tracker_rule_reloads_total" and sample.labels == {"file": file, "outcome": outcome}:
                return float(sample.value)
    raise AssertionError("xf_tracker_rule_reloads_total has no such series")


async def reloaded(settings: Settings, file: str, outcome: str, times: int) -> None:
    async def counted() -> bool:
        return await reloads(settings, file, outcome) >= times

    await eventually(counted, timeout=30, what=f"{file} reload {outcome} x{times}")


async def route_clock(db: asyncpg.Connection, case: str) -> asyncpg.Record:
    async def found() -> asyncpg.Record | None:
        row: asyncpg.Record | None = await db.fetchrow(
            "SELECT * FROM clocks WHERE case_id = $1 AND stage = 'route'", case
        )
        return row

    row: asyncpg.Record = await eventually(found, what=f"the route clock of {case}")
    return row


async def test_new_clocks_take_the_edited_policies_and_a_broken_file_is_refused(
    tracker_rules: Settings, db: asyncpg.Connection
) -> None:
    deadlines = tracker_rules.rules_dir / "deadlines.yaml"
    assert await reloads(tracker_rules, "deadlines", "applied") == 0
    edit(deadlines, "route: {limit: 15}", "route: {limit: 25}")
    await reloaded(tracker_rules, "deadlines", "applied", 1)
    version = load_policies(tracker_rules.rules_dir).get("standard").version

    at = datetime(2026, 3, 2, 9, 0, tzinfo=SHANGHAI)  # a Monday; +25 days is Friday 27 March
    first = case_id("RLD")
    await publish(tracker_rules, [received(first, at)])
    clock = await route_clock(db, first)
    assert (clock["due_date"], clock["policy_version"]) == (date(2026, 3, 27), version)

    good = deadlines.read_text(encoding="utf-8")
    edit(deadlines, "route: {limit: 25}", "route: {limit: 25, warning: -1}")
    line = next(n for n, text in enumerate(deadlines.read_text(encoding="utf-8").splitlines(), 1) if "-1}" in text)
    await reloaded(tracker_rules, "deadlines", "refused", 1)
    log = (tracker_rules.stack_dir / "logs" / "tracker.log").read_text(encoding="utf-8", errors="replace")
    assert f"{deadlines}:{line}: policies.standard.route.warning" in log

    second = case_id("RLD")
    await publish(tracker_rules, [received(second, at)])
    clock = await route_clock(db, second)
    assert (clock["due_date"], clock["policy_version"]) == (date(2026, 3, 27), version)  # the last good file
    assert await reloads(tracker_rules, "deadlines", "applied") == 1

    deadlines.write_text(good, encoding="utf-8")  # as it was: the version in force, nothing to reload
    edit(tracker_rules.rules_dir / "categories.yaml", "\n", "\n# edited\n")  # not a file the tracker reads
    await asyncio.sleep(1.5)  # the watch fires (debounced); nothing may be counted
    assert await reloads(tracker_rules, "deadlines", "applied") == 1
    assert await reloads(tracker_rules, "deadlines", "refused") == 1


async def test_escalations_follow_the_edited_directory(tracker_rules: Settings, db: asyncpg.Connection) -> None:
    directory = tracker_rules.rules_dir / "directory.yaml"
    edit(directory, "unit_supervisors: {}", f'unit_supervisors: {{"{UNIT}": "150000:petition"}}')
    await reloaded(tracker_rules, "directory", "applied", 1)

    case = case_id("RLE")
    await publish(tracker_rules, [received(case, days_ago(60))])

    async def escalated() -> int | None:
        n: int = await db.fetchval("SELECT count(*) FROM alerts WHERE case_id = $1", case)
        return n if n >= 3 else None

    await eventually(escalated, timeout=30, what="overdue and two escalations")
    events = await read_topic(tracker_rules, "case.alert", keys={case})
    targets = {(e["data"]["kind"], e["data"]["escalation_level"]): e["data"]["unit"] for e in events}
    assert targets == {
        ("overdue", 0): UNIT,
        ("escalated", 1): "150000:petition",  # the directory's exception, not the city
        ("escalated", 2): "000000:petition",
    }
