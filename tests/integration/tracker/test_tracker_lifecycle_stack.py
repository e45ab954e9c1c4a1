"""The tracker applying events from Kafka: stages, duplicates, out-of-order events, refusals, audit."""

from __future__ import annotations

from datetime import date, datetime

import asyncpg
from polling import eventually
from tracker_events import SHANGHAI, case_id, lifecycle, publish, read_topic, received, routed

from services.common.settings import Settings


def local(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=SHANGHAI)


async def stage_of(db: asyncpg.Connection, case: str) -> str | None:
    stage: str | None = await db.fetchval("SELECT stage FROM cases WHERE case_id = $1", case)
    return stage


async def test_duplicates_and_out_of_order_events_apply_once_in_order(
    tracker_stack: Settings, db: asyncpg.Connection
) -> None:
    case = case_id("OOO")
    t0 = local("2026-05-06 09:00")
    accepted = lifecycle(case, "accepted", local("2026-05-08 09:00"))
    replied = lifecycle(case, "replied", local("2026-05-20 09:00"))
    # The reply first, the routing before the receipt, everything twice.
    envelopes = [replied, routed(case, t0, local("2026-05-06 10:00")), replied, accepted]
    await publish(tracker_stack, envelopes)

    async def parked() -> int | None:
        n: int = await db.fetchval("SELECT count(*) FROM parked_events WHERE case_id = $1", case)
        return n if n == 3 else None  # replied, routed, accepted all wait for the receipt

    await eventually(parked, what="three parked events")
    assert await stage_of(db, case) is None
    first = received(case, t0)
    await publish(tracker_stack, [first, accepted, replied, first])

    async def replied_stage() -> bool:
        # The review window lapsed in June: the scanner may conclude the case right after the reply.
        return await stage_of(db, case) in ("replied", "concluded")

    await eventually(replied_stage, what="the case replied")
    rows = await db.fetch("SELECT event_type, outcome FROM audit_log WHERE case_id = $1 ORDER BY id", case)
    applied = [r["event_type"] for r in rows if r["outcome"] == "applied"]
    assert applied[:4] == ["case.received", "case.routed", "accepted", "replied"]
    assert applied[4:] in ([], ["concluded"])
    assert {r["outcome"] for r in rows} == {"applied"}  # parked before the case existed: no audit trail yet
    held_then_applied = await db.fetch(
        "SELECT event_type FROM audit_log WHERE case_id = $1 AND detail->>'was_held' = 'true' ORDER BY id", case
    )
    assert [r["event_type"] for r in held_then_applied] == ["case.routed", "accepted", "replied"]
    assert await db.fetchval("SELECT count(*) FROM parked_events WHERE case_id = $1", case) == 0
    handled = await db.fetch("SELECT outcome, count(*) AS n FROM applied_events WHERE case_id = $1 GROUP BY 1", case)
    assert {r["outcome"]: r["n"] for r in handled} == {"applied": len(applied)}
    clocks = {r["stage"]: r for r in await db.fetch("SELECT * FROM clocks WHERE case_id = $1", case)}
    assert clocks["handle"]["outcome"] == "met"
    assert clocks["review_window"]["due_date"] == date(2026, 6, 22)  # 19 June (端午) → Monday 22nd


async def test_an_illegal_event_is_refused_audited_and_dead_lettered(
    tracker_stack: Settings, db: asyncpg.Connection
) -> None:
    case = case_id("ILL")
    t0 = local("2026-05-06 09:00")
    bad = lifecycle(case, "extended", local("2026-05-09 09:00"), days=31, reason="复杂", approved_by="150627:gov")
    await publish(
        tracker_stack,
        [
            received(case, t0),
            routed(case, t0, local("2026-05-06 10:00")),
            lifecycle(case, "accepted", local("2026-05-08 09:00")),
            bad,
        ],
    )

    async def refused() -> asyncpg.Record | None:
        return await db.fetchrow("SELECT * FROM audit_log WHERE case_id = $1 AND outcome = 'refused'", case)

    row = await eventually(refused, what="the refusal in the audit")
    assert row["event_type"] == "extended" and row["event_id"] == bad.id
    assert '"kind": "extension_bound"' in row["detail"] and "maximum of 30" in row["detail"]
    handle = await db.fetchrow("SELECT * FROM clocks WHERE case_id = $1 AND stage = 'handle'", case)
    assert handle["extended_days"] == 0 and handle["due_date"] == date(2026, 7, 7)  # untouched
    assert await stage_of(db, case) == "accepted"
    (letter,) = await read_topic(tracker_stack, "case.deadletter", keys={case})
    assert letter["data"]["consumer"] == "tracker" and letter["data"]["topic"] == "case.lifecycle"
    assert letter["data"]["reason"].startswith("extension_bound: ") and bad.id in letter["data"]["payload"]


async def test_the_holiday_rule_and_a_handle_routing_in_the_database(
    tracker_stack: Settings, db: asyncpg.Connection
) -> None:
    spring, national = case_id("HOL"), case_id("HOL")
    jan31, sep16 = local("2026-01-31 08:00"), local("2026-09-16 08:00")
    await publish(
        tracker_stack,
        [
            received(spring, local("2026-01-30 10:00")),  # route: 14 Feb, a swapped working Saturday
            routed(spring, local("2026-01-30 10:00"), jan31, disposition="handle", unit="150627:petition"),
            received(national, sep16),
            routed(national, sep16, sep16.replace(hour=9)),
            lifecycle(national, "delivered", sep16.replace(hour=10)),
        ],
    )

    async def clocks() -> dict[tuple[str, str], asyncpg.Record] | None:
        rows = await db.fetch("SELECT * FROM clocks WHERE case_id = ANY($1::text[])", [spring, national])
        found = {(r["case_id"], r["stage"]): r for r in rows}
        return found if len(found) == 4 else None

    found = await eventually(clocks, what="four clocks")
    assert found[(spring, "route")]["due_date"] == date(2026, 2, 14)
    assert await stage_of(db, spring) == "delivered"  # handle: routing is the delivery
    assert found[(spring, "accept")]["started_at"] == jan31
    assert found[(spring, "accept")]["due_date"] == date(2026, 2, 24)  # 15 Feb falls in the Spring Festival
    assert found[(national, "accept")]["due_date"] == date(2026, 10, 8)  # 1 Oct: National Day


async def test_a_premature_event_that_waited_too_long_is_refused(
    tracker_stack: Settings, db: asyncpg.Connection
) -> None:
    case = case_id("EXP")
    t0 = local("2026-05-06 09:00")
    lonely = lifecycle(case, "replied", local("2026-05-20 09:00"))
    await publish(tracker_stack, [received(case, t0), routed(case, t0, t0.replace(hour=10)), lonely])

    async def held() -> bool:
        return bool(await db.fetchval("SELECT count(*) FROM parked_events WHERE case_id = $1", case))

    await eventually(held, what="the reply parked")
    # Age it past the hold limit (XF_TRACKER_HOLD_SECONDS, a week by default); the scanner refuses it.
    await db.execute("UPDATE parked_events SET parked_at = parked_at - interval '8 days' WHERE case_id = $1", case)

    async def refused() -> asyncpg.Record | None:
        return await db.fetchrow("SELECT * FROM audit_log WHERE case_id = $1 AND outcome = 'refused'", case)

    row = await eventually(refused, timeout=30, what="the expired hold refused")
    assert row["event_id"] == lonely.id and '"kind": "premature"' in row["detail"] and "never came" in row["detail"]
    assert await db.fetchval("SELECT outcome FROM applied_events WHERE event_id = $1", lonely.id) == "refused"
    letters = await read_topic(tracker_stack, "case.deadletter", keys={case})
    assert [letter["data"]["reason"].split(":")[0] for letter in letters] == ["premature"]
