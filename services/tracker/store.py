"""The tracker's writes to PostgreSQL. Every function runs inside the caller's transaction."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from services.common.db import Conn
from services.common.schemas import ReceivedCase, RoutedCase


@dataclass(frozen=True)
class ClockPlan:
    stage: str
    policy: str
    policy_version: str
    started_at: datetime
    due_date: date
    due_at: datetime
    warn_at: datetime


async def claim_event(conn: Conn, event_id: str, case_id: str, event_type: str) -> bool:
    """Record the event as applied; False when it was applied before (a redelivery)."""
    status = await conn.execute(
        "INSERT INTO applied_events (event_id, case_id, type) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
        event_id,
        case_id,
        event_type,
    )
    return status == "INSERT 0 1"


async def upsert_received(conn: Conn, case: ReceivedCase) -> None:
    # The routed event may have arrived first (different topics, no order between them): then the
    # row exists and only what the routed event could not know is filled in.
    await conn.execute(
        """INSERT INTO cases (case_id, received_at, channel, category, region, people_count, received_by, stage)
           VALUES ($1, $2, $3, $4, $5, $6, $7, 'received')
           ON CONFLICT (case_id) DO UPDATE SET received_by = EXCLUDED.received_by,
               version = cases.version + 1, updated_at = now()""",
        case.case_id,
        case.received_at,
        case.channel,
        case.category,
        case.location.region,
        case.people_count,
        case.received_by,
    )


async def upsert_routed(conn: Conn, routed: RoutedCase, *, stage: str, outcome: str | None) -> None:
    d = routed.decision
    await conn.execute(
        """INSERT INTO cases (case_id, received_at, channel, category, region, people_count, stage)
           VALUES ($1, $2, $3, $4, $5, $6, $7)
           ON CONFLICT (case_id) DO NOTHING""",
        routed.case_id,
        routed.received_at,
        routed.channel,
        routed.category,
        routed.region,
        routed.people_count,
        stage,
    )
    await conn.execute(
        """UPDATE cases SET stage = $2, closed = $3, outcome = $4, disposition = $5, handling_unit = $6,
               handling_level = $7, co_units = $8, lead_leader = $9, urgency = $10, flags = $11,
               deadline_policy = $12, ruleset_version = $13, routed_at = $14,
               version = version + 1, updated_at = now()
           WHERE case_id = $1""",
        routed.case_id,
        stage,
        outcome is not None,
        outcome,
        d.disposition,
        d.handling_unit,
        d.handling_level,
        list(d.co_units),
        d.lead_leader,
        d.urgency,
        list(d.flags),
        d.deadline_policy,
        d.ruleset_version,
        routed.routed_at,
    )


async def start_clock(conn: Conn, case_id: str, plan: ClockPlan) -> bool:
    """Start a stage's clock unless it already runs (or ran); True when started now."""
    status = await conn.execute(
        """INSERT INTO clocks (case_id, stage, policy, policy_version, started_at, due_date, due_at, warn_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING""",
        case_id,
        plan.stage,
        plan.policy,
        plan.policy_version,
        plan.started_at,
        plan.due_date,
        plan.due_at,
        plan.warn_at,
    )
    return status == "INSERT 0 1"


async def complete_clock(conn: Conn, case_id: str, stage: str, at: datetime) -> None:
    await conn.execute(
        "UPDATE clocks SET completed_at = $3 WHERE case_id = $1 AND stage = $2 AND completed_at IS NULL",
        case_id,
        stage,
        at,
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
    detail: dict[str, Any] | None = None,
) -> None:
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
        json.dumps(detail or {}, ensure_ascii=False),
    )
