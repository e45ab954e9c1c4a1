"""A tracker killed in mid-stream and started again: nothing lost, nothing applied twice."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta

import asyncpg
from polling import eventually
from tracker_events import case_id, days_ago, lifecycle, publish, received, routed
from tracker_stack import kill_tracker, quiet

from services import stack
from services.common.settings import Settings

CASES = 400  # three events each: received, routed, accepted


async def test_a_crash_in_mid_stream_loses_nothing_and_applies_nothing_twice(
    fast_tracker: Settings, db: asyncpg.Connection
) -> None:
    cases = [case_id("RST") for _ in range(CASES)]
    t0 = days_ago(3)
    envelopes = []
    for case in cases:
        envelopes += [
            received(case, t0),
            routed(case, t0, t0 + timedelta(minutes=1)),
            lifecycle(case, "accepted", t0 + timedelta(hours=1)),
        ]
    await publish(fast_tracker, envelopes)

    async def applied() -> int:
        n: int = await db.fetchval("SELECT count(*) FROM applied_events WHERE case_id = ANY($1::text[])", cases)
        return n

    deadline = time.monotonic() + 60
    while await applied() < 150:
        assert time.monotonic() < deadline, "the tracker applies nothing"
        await asyncio.sleep(0.02)
    kill_tracker(fast_tracker)
    at_crash = await applied()
    assert at_crash < 3 * CASES, "the stream was over before the crash; nothing was tested"
    stack.up(fast_tracker.model_copy(update={"tracker_instance": "tracker-a"}), ["tracker"], report=quiet)

    async def all_accepted() -> bool:
        n = await db.fetchval(
            "SELECT count(*) FROM cases WHERE case_id = ANY($1::text[]) AND stage = 'accepted'", cases
        )
        return bool(n == CASES)

    await eventually(all_accepted, timeout=90, what="every case accepted after the restart")
    assert await applied() == 3 * CASES
    audit = await db.fetch(
        "SELECT outcome, count(*) AS n FROM audit_log WHERE case_id = ANY($1::text[]) GROUP BY 1", cases
    )
    outcomes = {r["outcome"]: r["n"] for r in audit}
    assert outcomes["applied"] == 3 * CASES  # each event once
    assert set(outcomes) <= {"applied", "held"}  # an acceptance can overtake its routing; none refused
    assert await db.fetchval("SELECT count(*) FROM parked_events WHERE case_id = ANY($1::text[])", cases) == 0
    clocks = await db.fetchval(
        "SELECT count(*) FROM clocks WHERE case_id = ANY($1::text[]) AND stage = 'handle' AND completed_at IS NULL",
        cases,
    )
    assert clocks == CASES
    print(f"crashed after {at_crash} of {3 * CASES} events")
