"""Intake's reads and writes of cases in PostgreSQL (the only store that holds personal data).

Every query here names its columns: the sealed `personal` column is only ever written, never read
back into an answer.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from services.common.db import Conn
from services.common.schemas import History
from services.intake.auth import UnitFilter
from services.intake.privacy import Vault


@dataclass(frozen=True)
class StoredCase:
    case_id: str
    request_hash: str


async def lock_keys(conn: Conn, keys: Sequence[str]) -> None:
    """Transaction-scoped advisory locks on `keys`, always taken in the order of their hashes."""
    if keys:
        await conn.execute(
            """SELECT pg_advisory_xact_lock(h) FROM
                   (SELECT hashtextextended(k, 0) AS h FROM unnest($1::text[]) AS k ORDER BY 1 OFFSET 0) AS s""",
            list(keys),
        )


async def find_by_idempotency_keys(conn: Conn, keys: Sequence[str]) -> dict[str, StoredCase]:
    if not keys:
        return {}
    rows = await conn.fetch(
        "SELECT idempotency_key, case_id, request_hash FROM cases WHERE idempotency_key = ANY($1::text[])", list(keys)
    )
    return {row["idempotency_key"]: StoredCase(row["case_id"], row["request_hash"]) for row in rows}


async def same_matter_histories(conn: Conn, matter_keys: Sequence[str]) -> dict[str, History]:
    """History per matter (DOMAIN.md §4.3): how many cases, the earliest still open, and whether a case
    of the matter was concluded (re-review finished, 三级终结)."""
    rows = await conn.fetch(
        """SELECT matter_key, count(*) AS prior,
                  (array_agg(case_id ORDER BY received_at, case_id)
                       FILTER (WHERE status = 'open' AND merged_into IS NULL))[1] AS open_case,
                  coalesce(bool_or(status = 'concluded'), false) AS concluded
           FROM cases WHERE matter_key = ANY($1::text[]) GROUP BY matter_key""",
        list(matter_keys),
    )
    return {
        row["matter_key"]: History(
            prior_cases=int(row["prior"]), open_case_id=row["open_case"], concluded=bool(row["concluded"])
        )
        for row in rows
    }


async def next_sequences(conn: Conn, count: int) -> list[int]:
    if count == 0:
        return []
    rows = await conn.fetch("SELECT nextval('case_number_seq') AS n FROM generate_series(1, $1)", count)
    return [int(row["n"]) for row in rows]


_CASE_COLUMNS = (
    "case_id",
    "idempotency_key",
    "request_hash",
    "client",
    "received_at",
    "channel",
    "received_by",
    "category",
    "region",
    "people_count",
    "target_unit",
    "litigation",
    "assignment",
    "summary",
    "petitioner_key",
    "matter_key",
    "personal",
    "merged_into",
    "history",
)
_INSERT_CASE = (
    f"INSERT INTO cases ({', '.join(_CASE_COLUMNS)}) "
    f"VALUES ({', '.join(f'${i}' for i in range(1, len(_CASE_COLUMNS) + 1))})"
)


async def insert_cases(conn: Conn, rows: Sequence[dict[str, Any]]) -> None:
    if rows:
        await conn.executemany(
            _INSERT_CASE,
            [
                tuple(
                    json.dumps(row[c], ensure_ascii=False) if isinstance(row[c], dict) else row[c]
                    for c in _CASE_COLUMNS
                )
                for row in rows
            ],
        )


_VIEW_COLUMNS = """c.case_id, c.client, c.received_at, c.channel, c.received_by, c.category, c.region,
    c.people_count, c.target_unit, c.litigation, c.assignment, c.summary, c.status, c.stage, c.stage_at,
    c.merged_into, c.history, c.handling_unit AS current_unit, c.co_units AS current_co_units,
    r.routed_at, r.disposition, r.handling_unit, r.handling_level, r.co_units, r.lead_leader, r.urgency,
    r.report_within_hours, r.flags, r.deadline_policy, r.trace, r.ruleset_version"""


async def case_view(conn: Conn, case_id: str) -> asyncpg.Record | None:
    record: asyncpg.Record | None = await conn.fetchrow(
        f"""SELECT {_VIEW_COLUMNS},
                   (SELECT published_at FROM outbox o WHERE o.key = c.case_id AND o.topic = 'case.received'
                    ORDER BY o.id LIMIT 1) AS published_at
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
