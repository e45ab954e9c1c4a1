"""Deadline alerts with two tracker instances sharing the work: each alert raised exactly once."""

from __future__ import annotations

import subprocess
from collections import Counter

import asyncpg
from polling import eventually
from tracker_events import case_id, days_ago, publish, read_topic, received

from services.common.settings import Settings

OVERDUE_CASES = 120  # received 40 days ago: route overdue, escalated once and twice (15-day window)
WARNED_CASES = 60  # received 13.5 days ago: inside the 3-day warning lead


async def test_two_instances_raise_each_alert_exactly_once(
    fast_tracker: Settings, second_tracker: subprocess.Popen[bytes], db: asyncpg.Connection
) -> None:
    overdue = [case_id("ALO") for _ in range(OVERDUE_CASES)]
    warned = [case_id("ALW") for _ in range(WARNED_CASES)]
    await publish(
        fast_tracker,
        [received(c, days_ago(40)) for c in overdue] + [received(c, days_ago(13.5)) for c in warned],
    )
    cases = overdue + warned
    expected = OVERDUE_CASES * 3 + WARNED_CASES

    async def all_raised() -> int | None:
        n: int = await db.fetchval("SELECT count(*) FROM alerts WHERE case_id = ANY($1::text[])", cases)
        return n if n >= expected else None

    await eventually(all_raised, timeout=60, what=f"{expected} alerts")
    events = await read_topic(fast_tracker, "case.alert", keys=set(cases), settle=3.0)
    ids = Counter(e["id"] for e in events)
    assert len(events) == expected, f"{len(events)} alert events for {expected} thresholds"
    assert max(ids.values()) == 1, "an alert id was published twice"
    per_case = Counter((e["data"]["case_id"], e["data"]["kind"], e["data"]["escalation_level"]) for e in events)
    assert set(per_case.values()) == {1}
    for case in overdue:
        assert {(k, lvl) for (c, k, lvl) in per_case if c == case} == {
            ("overdue", 0),
            ("escalated", 1),
            ("escalated", 2),
        }
    for case in warned:
        assert {(k, lvl) for (c, k, lvl) in per_case if c == case} == {("warning", 0)}
    by_target = {(e["data"]["kind"], e["data"]["escalation_level"]): e["data"]["unit"] for e in events}
    assert by_target == {
        ("overdue", 0): "150627:petition",  # the receiving unit must route it
        ("escalated", 1): "150600:petition",  # 督办 by the supervising unit
        ("escalated", 2): "150000:petition",  # and one level further
        ("warning", 0): "150627:petition",
    }
    rows = await db.fetch(
        "SELECT raised_by, count(*) AS n FROM alerts WHERE case_id = ANY($1::text[]) GROUP BY 1", cases
    )
    raised_by = {r["raised_by"]: r["n"] for r in rows}
    assert sum(raised_by.values()) == expected
    assert set(raised_by) == {"tracker-a", "tracker-b"}, f"both instances scanned: {raised_by}"
    levels = await db.fetch("SELECT alert_level, next_alert_at FROM clocks WHERE case_id = ANY($1::text[])", overdue)
    assert {(r["alert_level"], r["next_alert_at"]) for r in levels} == {(4, None)}
