"""The tracker's reads and writes in PostgreSQL. Every function runs inside the caller's transaction."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

import asyncpg

from services.common.db import Conn
from services.tracker.engine import CaseRecord
from services.tracker.policy import Stage
from services.tracker.records import SUPERSEDED, ClockWrite, PolicyResolver, StoredClock, clock_from_row

# Columns the engine may write; anything else is a programming error, not a query.
CASE_COLUMNS: frozenset[str] = frozenset(
    {
        "case_id", "received_at", "channel", "category", "region", "people_count", "received_by", "stage",
        "stage_since", "closed", "outcome", "disposition", "handling_unit", "handling_level", "co_units",
        "lead_leader", "urgency", "flags", "deadline_policy", "ruleset_version", "routed_at",
        "report_within_hours", "reports", "satisfied", "assignment_from", "assignment_due_days",
        "review_unit", "rereview_unit", "delivered_at", "accepted_at", "rejected_at", "replied_at",
        "review_requested_at", "reviewed_at", "rereview_requested_at", "rereviewed_at", "closed_at",
        "last_event_at",
    }
)  # fmt: skip


async def lock_cases(conn: Conn, case_ids: Iterable[str]) -> None:
    """Serialise work on these cases across tracker instances until the transaction ends.

    Advisory locks also cover cases that have no row yet (an event parked before its case exists).
    Taken all at once in key order, so two instances locking overlapping batches cannot deadlock.
    """
    ids = sorted(set(case_ids))
    if ids:
        await conn.execute(
            """SELECT pg_advisory_xact_lock(k)
               FROM (SELECT DISTINCT hashtextextended(c, 0) AS k FROM unnest($1::text[]) AS c) keys ORDER BY k""",
            ids,
        )


async def seen(conn: Conn, event_id: str) -> str | None:
    """How the event was handled before: applied, refused, duplicate, held; None if never."""
    outcome: str | None = await conn.fetchval(
        """SELECT outcome FROM applied_events WHERE event_id = $1
           UNION ALL SELECT 'held' FROM parked_events WHERE event_id = $1 LIMIT 1""",
        event_id,
    )
    return outcome


async def load_case(conn: Conn, case_id: str, resolver: PolicyResolver, *, lock: bool = True) -> CaseRecord | None:
    """The case and its current clocks; locked (the scanner skips them) unless `lock` is False."""
    suffix = " FOR UPDATE" if lock else ""
    row = await conn.fetchrow("SELECT * FROM cases WHERE case_id = $1" + suffix, case_id)
    if row is None:
        return None
    clock_rows = await conn.fetch(
        "SELECT * FROM clocks WHERE case_id = $1 AND outcome IS DISTINCT FROM $2" + suffix, case_id, SUPERSEDED
    )
    clocks: dict[Stage, StoredClock] = {}
    for clock_row in clock_rows:
        stored = clock_from_row(clock_row, resolver)
        clocks[stored.clock.stage] = stored
    return CaseRecord(dict(row), clocks)


async def insert_case(conn: Conn, columns: Mapping[str, Any]) -> None:
    names = _checked(columns)
    placeholders = ", ".join(f"${i}" for i in range(1, len(names) + 1))
    await conn.execute(f"INSERT INTO cases ({', '.join(names)}) VALUES ({placeholders})", *(columns[n] for n in names))


async def update_case(conn: Conn, case_id: str, columns: Mapping[str, Any]) -> None:
    names = _checked(columns)
    sets = ", ".join(f"{name} = ${i}" for i, name in enumerate(names, start=2))
    await conn.execute(
        f"UPDATE cases SET {sets}, version = version + 1, updated_at = now() WHERE case_id = $1",
        case_id,
        *(columns[n] for n in names),
    )


def _checked(columns: Mapping[str, Any]) -> list[str]:
    unknown = set(columns) - CASE_COLUMNS
    if unknown:
        raise ValueError(f"not a case column: {', '.join(sorted(unknown))}")
    return sorted(columns)


_CLOCK_UPSERT = """
INSERT INTO clocks (case_id, stage, generation, policy, policy_version, policy_snapshot, started_at, limit_value,
    pauses, extensions, completed_at, due_date, due_at, warn_at, paused_since, paused_total, extended_days, unit,
    alert_level, next_alert_at, outcome, escalation_levels, breach_window)
VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7, $8, $9::jsonb, $10::jsonb, $11, $12, $13, $14, $15, $16, $17, $18,
    $19, $20, $21, $22, $23)
ON CONFLICT (case_id, stage) DO UPDATE SET
    -- A stage that starts again after a reassignment dropped it is a new instance of the clock.
    generation = CASE WHEN clocks.outcome = 'superseded' AND EXCLUDED.generation <= clocks.generation
                      THEN clocks.generation + 1 ELSE EXCLUDED.generation END,
    policy = EXCLUDED.policy, policy_version = EXCLUDED.policy_version, policy_snapshot = EXCLUDED.policy_snapshot,
    started_at = EXCLUDED.started_at, limit_value = EXCLUDED.limit_value, pauses = EXCLUDED.pauses,
    extensions = EXCLUDED.extensions, completed_at = EXCLUDED.completed_at, due_date = EXCLUDED.due_date,
    due_at = EXCLUDED.due_at, warn_at = EXCLUDED.warn_at, paused_since = EXCLUDED.paused_since,
    paused_total = EXCLUDED.paused_total, extended_days = EXCLUDED.extended_days, unit = EXCLUDED.unit,
    alert_level = EXCLUDED.alert_level, next_alert_at = EXCLUDED.next_alert_at, outcome = EXCLUDED.outcome,
    escalation_levels = EXCLUDED.escalation_levels, breach_window = EXCLUDED.breach_window
"""


async def write_clocks(conn: Conn, case_id: str, writes: Sequence[ClockWrite]) -> None:
    if not writes:
        return
    await conn.executemany(
        _CLOCK_UPSERT,
        [
            (
                case_id,
                w.stage,
                w.generation,
                w.policy,
                w.policy_version,
                json.dumps(w.policy_snapshot, sort_keys=True),
                w.started_at,
                w.limit_value,
                json.dumps(w.pauses),
                json.dumps(w.extensions, ensure_ascii=False),
                w.completed_at,
                w.due_date,
                w.due_at,
                w.warn_at,
                w.paused_since,
                w.paused_total,
                w.extended_days,
                w.unit,
                w.alert_level,
                w.next_alert_at,
                w.outcome,
                w.escalation_levels,
                w.breach_window,
            )
            for w in writes
        ],
    )


async def supersede_clocks(conn: Conn, case_id: str, stages: Sequence[Stage], at: datetime) -> None:
    if stages:
        await conn.execute(
            """UPDATE clocks SET outcome = $3, completed_at = coalesce(completed_at, $4), next_alert_at = NULL
               WHERE case_id = $1 AND stage = ANY($2::text[])""",
            case_id,
            list(stages),
            SUPERSEDED,
            at,
        )


async def record_handled(conn: Conn, event_id: str, case_id: str, event_type: str, outcome: str) -> None:
    await conn.execute(
        """INSERT INTO applied_events (event_id, case_id, type, outcome) VALUES ($1, $2, $3, $4)
           ON CONFLICT (event_id) DO NOTHING""",
        event_id,
        case_id,
        event_type,
        outcome,
    )


async def audit(
    conn: Conn,
    *,
    case_id: str,
    event_id: str,
    event_type: str,
    actor: str,
    at: datetime,
    outcome: str,
    ruleset_version: str | None = None,
    policy_version: str | None = None,
    detail: Mapping[str, Any] | None = None,
) -> None:
    """Append one audit record: every change and every held or refused event (append-only)."""
    await conn.execute(
        """INSERT INTO audit_log (case_id, event_id, event_type, actor, at, outcome,
               ruleset_version, policy_version, detail)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::jsonb)""",
        case_id,
        event_id,
        event_type,
        actor,
        at,
        outcome,
        ruleset_version,
        policy_version,
        json.dumps(detail or {}, ensure_ascii=False, default=str),
    )


# --- parked (premature) events -------------------------------------------------------------------------


async def park(
    conn: Conn, *, event_id: str, case_id: str, topic: str, event_type: str, at: datetime, payload: bytes, reason: str
) -> None:
    await conn.execute(
        """INSERT INTO parked_events (event_id, case_id, topic, type, at, payload, reason)
           VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (event_id) DO NOTHING""",
        event_id,
        case_id,
        topic,
        event_type,
        at,
        payload,
        reason,
    )


async def parked_for(conn: Conn, case_id: str) -> list[asyncpg.Record]:
    """The case's parked events, oldest business time first, locked for this transaction."""
    return await conn.fetch(
        "SELECT * FROM parked_events WHERE case_id = $1 ORDER BY at, parked_at, event_id FOR UPDATE", case_id
    )


async def has_parked(conn: Conn, case_id: str) -> bool:
    found: bool = await conn.fetchval("SELECT EXISTS (SELECT 1 FROM parked_events WHERE case_id = $1)", case_id)
    return found


async def unpark(conn: Conn, event_id: str) -> None:
    await conn.execute("DELETE FROM parked_events WHERE event_id = $1", event_id)


async def expire_parked(conn: Conn, *, parked_before: datetime, limit: int) -> list[asyncpg.Record]:
    """Take the events that waited too long (skipping ones another instance is working on)."""
    return await conn.fetch(
        """DELETE FROM parked_events WHERE event_id IN (
               SELECT event_id FROM parked_events WHERE parked_at < $1
               ORDER BY parked_at LIMIT $2 FOR UPDATE SKIP LOCKED)
           RETURNING *""",
        parked_before,
        limit,
    )
