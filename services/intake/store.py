"""Intake's reads and writes in PostgreSQL (the only store that holds personal data)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from services.common.db import Conn
from services.common.schemas import History


@dataclass(frozen=True)
class StoredCase:
    case_id: str
    request_hash: str
    received_event_id: str | None = None


async def find_by_idempotency_key(conn: Conn, key: str) -> StoredCase | None:
    row = await conn.fetchrow("SELECT case_id, request_hash FROM cases WHERE idempotency_key = $1", key)
    return StoredCase(row["case_id"], row["request_hash"]) if row else None


async def lock_idempotency_key(conn: Conn, key: str) -> None:
    """Serialise concurrent submissions with the same key until the transaction ends."""
    await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", key)


async def same_matter_history(conn: Conn, matter_key: str) -> History:
    row = await conn.fetchrow(
        """SELECT count(*) AS prior,
                  (array_agg(case_id ORDER BY received_at) FILTER (WHERE status = 'open'
                                                                  AND merged_into IS NULL))[1] AS open_case,
                  bool_or(status = 'concluded') AS concluded
           FROM cases WHERE matter_key = $1""",
        matter_key,
    )
    assert row is not None
    return History(
        prior_cases=int(row["prior"]),
        open_case_id=row["open_case"],
        concluded=bool(row["concluded"]),
    )


async def next_sequence(conn: Conn) -> int:
    value = await conn.fetchval("SELECT nextval('case_number_seq')")
    return int(value)


async def insert_case(conn: Conn, row: dict[str, Any]) -> None:
    columns = list(row)
    placeholders = ", ".join(f"${i}" for i in range(1, len(columns) + 1))
    await conn.execute(
        f"INSERT INTO cases ({', '.join(columns)}) VALUES ({placeholders})",
        *(json.dumps(v, ensure_ascii=False) if isinstance(v, dict) else v for v in row.values()),
    )


async def case_status(conn: Conn, case_id: str) -> dict[str, Any] | None:
    row = await conn.fetchrow(
        """SELECT c.case_id, c.received_at, c.channel, c.category, c.region, c.received_by, c.people_count,
                  c.status, c.merged_into,
                  (SELECT published_at FROM outbox o WHERE o.key = c.case_id AND o.topic = 'case.received'
                   ORDER BY id LIMIT 1) AS published_at
           FROM cases c WHERE c.case_id = $1""",
        case_id,
    )
    return dict(row) if row else None


def as_timestamp(value: datetime | None) -> str | None:
    return value.isoformat() if value else None
