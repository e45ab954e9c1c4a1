"""Intake's reads and writes of cases in PostgreSQL (the only store that holds personal data).

Every query here names its columns: the sealed `personal` column is only ever written, never read
back into an answer.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import asyncpg

from services.access.scopes import UnitFilter
from services.common.db import Conn, create_pool, migrate
from services.common.schemas import History
from services.intake.privacy import Vault

MIGRATIONS = Path(__file__).parent / "migrations"


async def open_store(dsn: str, *, schema: str = "intake", min_size: int = 1, max_size: int = 10) -> asyncpg.Pool:
    """A pool on intake's tables in `schema`, migrated to the latest version."""
    pool = await create_pool(dsn, schema, min_size=min_size, max_size=max_size)
    try:
        await migrate(pool, "intake", MIGRATIONS)
    except BaseException:
        await pool.close()
        raise
    return pool


@dataclass(frozen=True)
class StoredCase:
    case_id: str
    request_hash: str


@dataclass(frozen=True)
class Snapshot:
    """What accepting a batch needs to know, read under its locks."""

    known: dict[str, StoredCase]  # by scoped idempotency key
    histories: dict[str, History]  # by matter key
    numbers: list[int]  # fresh case-number sequence values, one per request


def lock_id(key: str) -> int:
    """A signed 64-bit advisory lock id for a key (computed here, so the lock needs no parameters)."""
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big", signed=True)


@contextlib.asynccontextmanager
async def locked_transaction(conn: Conn, keys: Sequence[str]) -> AsyncIterator[list[str]]:
    """A transaction holding advisory locks on `keys`, taken in one global order (lock id), so two
    transactions never wait on each other in a cycle. Begin and locks go in one round trip, commit
    and the statements the caller appends to the yielded list in another."""
    ids = sorted({lock_id(key) for key in keys})
    locks = "".join(f"; SELECT pg_advisory_xact_lock({ident})" for ident in ids)
    await conn.execute("BEGIN" + locks)
    after_commit: list[str] = []
    try:
        yield after_commit
    except BaseException:
        with contextlib.suppress(Exception):
            await conn.execute("ROLLBACK")
        raise
    await conn.execute("; ".join(["COMMIT", *after_commit]))


async def read_for_accept(conn: Conn, keys: Sequence[str], matters: Sequence[str], *, numbers: int) -> Snapshot:
    """Earlier cases under these idempotency keys, the history of these matters (DOMAIN.md §4.3: how
    many cases, the earliest still open and not attached to another, whether one was concluded),
    and `numbers` case numbers: one round trip."""
    row = await conn.fetchrow(
        """SELECT
             (SELECT coalesce(json_agg(json_build_array(idempotency_key, case_id, request_hash)), '[]')
              FROM cases WHERE idempotency_key = ANY($1::text[])) AS known,
             (SELECT coalesce(json_agg(json_build_array(matter_key, prior, open_case, concluded)), '[]')
              FROM (SELECT matter_key, count(*) AS prior,
                           (array_agg(case_id ORDER BY received_at, case_id)
                                FILTER (WHERE status = 'open' AND merged_into IS NULL))[1] AS open_case,
                           coalesce(bool_or(status = 'concluded'), false) AS concluded
                    FROM cases WHERE matter_key = ANY($2::text[]) GROUP BY matter_key) AS h) AS histories,
             (SELECT array_agg(nextval('case_number_seq')) FROM generate_series(1, $3)) AS numbers""",
        list(keys),
        list(matters),
        numbers,
    )
    assert row is not None
    return Snapshot(
        known={key: StoredCase(case_id, digest) for key, case_id, digest in json.loads(row["known"])},
        histories={
            matter: History(prior_cases=prior, open_case_id=open_case, concluded=concluded)
            for matter, prior, open_case, concluded in json.loads(row["histories"])
        },
        numbers=[int(n) for n in row["numbers"] or ()],
    )


_CASE_COLUMNS: tuple[tuple[str, str], ...] = (
    ("case_id", "text"),
    ("idempotency_key", "text"),
    ("request_hash", "text"),
    ("client", "text"),
    ("received_at", "timestamptz"),
    ("channel", "text"),
    ("received_by", "text"),
    ("category", "text"),
    ("region", "text"),
    ("people_count", "int"),
    ("target_unit", "text"),
    ("litigation", "text"),
    ("assignment", "jsonb"),
    ("summary", "text"),
    ("petitioner_key", "text"),
    ("matter_key", "text"),
    ("personal", "text"),
    ("merged_into", "text"),
    ("history", "jsonb"),
)
_OUTBOX_COLUMNS = (("event_id", "text"), ("topic", "text"), ("key", "text"), ("payload", "bytea"))


def _unnest(columns: Sequence[tuple[str, str]], first: int) -> str:
    return ", ".join(f"${first + i}::{kind}[]" for i, (_, kind) in enumerate(columns))


_INSERT_CASES_AND_EVENTS = f"""
    WITH new_cases AS (
        INSERT INTO cases ({", ".join(name for name, _ in _CASE_COLUMNS)})
        SELECT * FROM unnest({_unnest(_CASE_COLUMNS, 1)})
    )
    INSERT INTO outbox ({", ".join(name for name, _ in _OUTBOX_COLUMNS)})
    SELECT * FROM unnest({_unnest(_OUTBOX_COLUMNS, len(_CASE_COLUMNS) + 1)})"""


async def insert_cases_and_events(
    conn: Conn, rows: Sequence[dict[str, Any]], events: Sequence[tuple[str, str, str, bytes]]
) -> None:
    """The cases and their outbox rows in one statement (one round trip for any batch size)."""
    if not rows and not events:
        return
    case_columns = [
        [
            json.dumps(row[name], ensure_ascii=False) if kind == "jsonb" and row[name] is not None else row[name]
            for row in rows
        ]
        for name, kind in _CASE_COLUMNS
    ]
    event_columns = [list(column) for column in zip(*events, strict=True)] if events else [[] for _ in _OUTBOX_COLUMNS]
    await conn.execute(_INSERT_CASES_AND_EVENTS, *case_columns, *event_columns)


_VIEW_COLUMNS = """c.case_id, c.client, c.received_at, c.channel, c.received_by, c.category, c.region,
    c.people_count, c.target_unit, c.litigation, c.assignment, c.summary, c.status, c.stage, c.stage_at,
    c.merged_into, c.history, c.handling_unit AS current_unit, c.co_units AS current_co_units,
    r.routed_at, r.disposition, r.handling_unit, r.handling_level, r.co_units, r.lead_leader, r.urgency,
    r.report_within_hours, r.flags, r.deadline_policy, r.trace, r.ruleset_version"""


async def case_view(conn: Conn, case_id: str) -> asyncpg.Record | None:
    record: asyncpg.Record | None = await conn.fetchrow(
        # When case.received went out: from its outbox row, or once that was purged after the
        # retention period (outbox_retention.py), from what the purge kept.
        f"""SELECT {_VIEW_COLUMNS},
                   coalesce(
                       (SELECT published_at FROM outbox o WHERE o.key = c.case_id AND o.topic = 'case.received'
                        ORDER BY o.id LIMIT 1),
                       (SELECT published_at FROM received_sent s WHERE s.case_id = c.case_id)) AS published_at
            FROM cases c LEFT JOIN routings r USING (case_id) WHERE c.case_id = $1""",
        case_id,
    )
    return record


_MATCH_SUBTREE = """(({col} LIKE $1) AND ($2::text IS NULL OR split_part({col}, ':', 2) = $2))"""


def unit_condition(unit_filter: UnitFilter) -> tuple[str, list[Any]]:
    """The WHERE condition (and its first two parameters) of the cases a unit sees: those it
    received, handles (after routing or reassignment) or helps handle, for it or its subtree."""
    if unit_filter.prefix is None:
        # $2 is unused here but typed, so that both forms take the same parameters.
        exact = "(c.received_by = $1 OR c.handling_unit = $1 OR c.co_units @> ARRAY[$1::text]) AND $2::text IS NULL"
        return exact, [unit_filter.unit, None]
    parts = [_MATCH_SUBTREE.format(col="c.received_by"), _MATCH_SUBTREE.format(col="c.handling_unit")]
    parts.append(f"EXISTS (SELECT 1 FROM unnest(c.co_units) AS u WHERE {_MATCH_SUBTREE.format(col='u')})")
    # Prefixes are digits only, so nothing in them needs escaping for LIKE.
    return "(" + " OR ".join(parts) + ")", [unit_filter.prefix + "%", unit_filter.department]


async def list_cases(
    conn: Conn,
    unit_filter: UnitFilter,
    *,
    status: str | None,
    limit: int,
    before: tuple[datetime, str] | None,
) -> list[asyncpg.Record]:
    """Newest first; `before` is the (received_at, case_id) of the last case of the previous page."""
    condition, params = unit_condition(unit_filter)
    params += [status, limit, before[0] if before else None, before[1] if before else None]
    rows: list[asyncpg.Record] = await conn.fetch(
        f"""SELECT c.case_id, c.received_at, c.channel, c.category, c.region, c.received_by, c.people_count,
                   c.status, c.stage, c.handling_unit, c.merged_into, r.disposition, r.urgency, r.flags
            FROM cases c LEFT JOIN routings r USING (case_id)
            WHERE {condition}
              AND ($3::text IS NULL OR c.status = $3)
              AND ($5::timestamptz IS NULL OR (c.received_at, c.case_id) < ($5, $6::text))
            ORDER BY c.received_at DESC, c.case_id DESC
            LIMIT $4""",
        *params,
    )
    return rows


async def rotate_personal(conn: Conn, vault: Vault, *, batch: int) -> int:
    """Re-encrypt up to `batch` cases' personal data under the vault's current key; returns how many."""
    async with conn.transaction():
        rows = await conn.fetch(
            """SELECT case_id, personal FROM cases
               WHERE personal IS NOT NULL AND split_part(personal, ':', 2) <> $1
               ORDER BY case_id LIMIT $2 FOR UPDATE SKIP LOCKED""",
            vault.current_key_id,
            batch,
        )
        await conn.executemany(
            "UPDATE cases SET personal = $2 WHERE case_id = $1",
            [(row["case_id"], vault.rotate(row["personal"], context=row["case_id"])) for row in rows],
        )
    return len(rows)
