"""The tracker's reads and writes in PostgreSQL, a batch at a time. Every function runs inside the
caller's transaction; each is one statement (or one pipelined executemany) whatever the batch size."""

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

# Every column the tracker writes, with the value a new case starts with.
CASE_DEFAULTS: dict[str, Any] = {
    "case_id": None, "received_at": None, "channel": None, "category": None, "region": None,
    "people_count": None, "received_by": None, "stage": None, "stage_since": None, "closed": False,
    "outcome": None, "disposition": None, "handling_unit": None, "handling_level": None, "co_units": [],
    "lead_leader": None, "urgency": None, "flags": [], "deadline_policy": None, "ruleset_version": None,
    "routed_at": None, "report_within_hours": None, "reports": [], "satisfied": None,
    "assignment_from": None, "assignment_due_days": None, "review_unit": None, "rereview_unit": None,
    "delivered_at": None, "accepted_at": None, "rejected_at": None, "replied_at": None,
    "review_requested_at": None, "reviewed_at": None, "rereview_requested_at": None, "rereviewed_at": None,
    "closed_at": None, "last_event_at": None, "status_seq": 0,
}  # fmt: skip
CASE_COLUMNS: tuple[str, ...] = tuple(CASE_DEFAULTS)


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


async def seen(conn: Conn, event_ids: Sequence[str]) -> dict[str, str]:
    """How each of these events was handled before: applied, refused, duplicate, or held (parked)."""
    rows = await conn.fetch(
        """SELECT event_id, outcome FROM applied_events WHERE event_id = ANY($1::text[])
           UNION ALL SELECT event_id, 'held' FROM parked_events WHERE event_id = ANY($1::text[])""",
        list(event_ids),
    )
    return {row["event_id"]: row["outcome"] for row in rows}


async def load_cases(
    conn: Conn, case_ids: Sequence[str], resolver: PolicyResolver, *, lock: bool = True
) -> dict[str, CaseRecord]:
    """The cases that exist among these, with their current clocks; locked unless `lock` is False
    (locked clock rows are skipped by the scanner until the transaction ends)."""
    suffix = " FOR UPDATE" if lock else ""
    ids = list(case_ids)
    rows = await conn.fetch("SELECT * FROM cases WHERE case_id = ANY($1::text[])" + suffix, ids)
    clock_rows = await conn.fetch(
        "SELECT * FROM clocks WHERE case_id = ANY($1::text[]) AND outcome IS DISTINCT FROM $2" + suffix, ids, SUPERSEDED
    )
    await known_policies(conn, resolver, {r["policy_version"] for r in clock_rows})
    clocks: dict[str, dict[Stage, StoredClock]] = {}
    for clock_row in clock_rows:
        stored = clock_from_row(clock_row, resolver)
        clocks.setdefault(clock_row["case_id"], {})[stored.clock.stage] = stored
    return {row["case_id"]: CaseRecord(dict(row), clocks.get(row["case_id"], {})) for row in rows}


async def known_policies(conn: Conn, resolver: PolicyResolver, versions: Iterable[str]) -> None:
    """Make the resolver know these stored policy versions (older ones than today's rule file's)."""
    missing = [v for v in versions if not resolver.knows(v)]
    if missing:
        for row in await conn.fetch("SELECT snapshot FROM policy_snapshots WHERE version = ANY($1::text[])", missing):
            resolver.register(json.loads(row["snapshot"]))


async def load_case(conn: Conn, case_id: str, resolver: PolicyResolver, *, lock: bool = True) -> CaseRecord | None:
    return (await load_cases(conn, [case_id], resolver, lock=lock)).get(case_id)


async def cases_with_parked(conn: Conn, case_ids: Sequence[str]) -> set[str]:
    rows = await conn.fetch(
        "SELECT DISTINCT case_id FROM parked_events WHERE case_id = ANY($1::text[])", list(case_ids)
    )
    return {row["case_id"] for row in rows}


async def parked_for(conn: Conn, case_id: str) -> list[asyncpg.Record]:
    """The case's parked events, locked for this transaction."""
    return await conn.fetch("SELECT * FROM parked_events WHERE case_id = $1 FOR UPDATE", case_id)


# --- writes -------------------------------------------------------------------------------------------

_CASE_UPSERT = f"""
INSERT INTO cases ({", ".join(CASE_COLUMNS)}) VALUES ({", ".join(f"${i}" for i in range(1, len(CASE_COLUMNS) + 1))})
ON CONFLICT (case_id) DO UPDATE SET
    {", ".join(f"{c} = EXCLUDED.{c}" for c in CASE_COLUMNS if c != "case_id")},
    version = cases.version + 1, updated_at = now()
"""


async def write_cases(conn: Conn, rows: Iterable[Mapping[str, Any]]) -> None:
    """Each case's whole row as it now is (unknown keys are an error, missing ones take defaults)."""
    values = []
    for row in rows:
        unknown = set(row) - set(CASE_COLUMNS) - {"version", "updated_at"}
        if unknown:
            raise ValueError(f"not a case column: {', '.join(sorted(unknown))}")
        values.append(tuple(row.get(c, CASE_DEFAULTS[c]) for c in CASE_COLUMNS))
    if values:
        await conn.executemany(_CASE_UPSERT, values)


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


async def write_clocks(conn: Conn, writes: Sequence[tuple[str, ClockWrite]]) -> None:
    """Clock rows, in order; each policy version they run under is stored once in policy_snapshots."""
    versions = {w.policy_version: w for _, w in writes}
    if versions:
        await conn.executemany(
            """INSERT INTO policy_snapshots (version, name, snapshot) VALUES ($1, $2, $3::jsonb)
               ON CONFLICT (version) DO NOTHING""",
            [(v, w.policy, _snapshot_json(w)) for v, w in versions.items()],
        )
    values = [
        (
            case_id,
            w.stage,
            w.generation,
            w.policy,
            w.policy_version,
            None,  # policy_snapshots holds it
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
        for case_id, w in writes
    ]
    if values:
        await conn.executemany(_CLOCK_UPSERT, values)


_SNAPSHOTS: dict[str, str] = {}


def _snapshot_json(write: ClockWrite) -> str:
    """A policy version's snapshot serialised once (it is the same for every clock under it)."""
    text = _SNAPSHOTS.get(write.policy_version)
    if text is None:
        text = json.dumps(write.policy_snapshot, sort_keys=True)
        _SNAPSHOTS[write.policy_version] = text
    return text


async def record_handled(conn: Conn, rows: Iterable[tuple[str, str, str, str]]) -> None:
    """(event_id, case_id, type, outcome) for each event handled for good."""
    values = list(rows)
    if values:
        await conn.executemany(
            """INSERT INTO applied_events (event_id, case_id, type, outcome) VALUES ($1, $2, $3, $4)
               ON CONFLICT (event_id) DO NOTHING""",
            values,
        )


AUDIT_COLUMNS = (
    "case_id", "event_id", "event_type", "actor", "at", "outcome", "ruleset_version", "policy_version", "detail",
)  # fmt: skip


async def audit(conn: Conn, rows: Iterable[Mapping[str, Any]]) -> None:
    """Append audit records, in order: every change and every held or refused event (append-only)."""
    values = [
        tuple(json.dumps(row.get(c) or {}, ensure_ascii=False, default=str) if c == "detail" else row.get(c)
              for c in AUDIT_COLUMNS)
        for row in rows
    ]  # fmt: skip
    if values:
        await conn.executemany(
            f"""INSERT INTO audit_log ({", ".join(AUDIT_COLUMNS)})
                VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::jsonb)""",
            values,
        )


async def park(conn: Conn, rows: Iterable[Mapping[str, Any]]) -> None:
    values = [
        (r["event_id"], r["case_id"], r["topic"], r["type"], r["at"], r["payload"], r["reason"], r.get("partner"))
        for r in rows
    ]
    if values:
        await conn.executemany(
            """INSERT INTO parked_events (event_id, case_id, topic, type, at, payload, reason, partner)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (event_id) DO NOTHING""",
            values,
        )


async def unpark(conn: Conn, event_ids: Sequence[str]) -> None:
    if event_ids:
        await conn.execute("DELETE FROM parked_events WHERE event_id = ANY($1::text[])", list(event_ids))


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
