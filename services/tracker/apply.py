"""What each incoming event does to the tracker's state: plain async functions over a connection."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from services.common.db import Conn
from services.common.envelope import Envelope
from services.common.schemas import ReceivedCase, RoutedCase
from services.tracker import metrics, store
from services.tracker.store import ClockPlan

# Dispositions that end the case at routing, and the outcome recorded for each.
CLOSING_DISPOSITIONS = {
    "divert_legal": "diverted_legal",
    "reject_concluded": "rejected_concluded",
    "redirect": "redirected",
    "merge": "merged",
}
DEFAULT_POLICY = "standard"


class ClockPlanner(Protocol):
    def plan(
        self, stage: str, started_at: datetime, policy: str, *, days: int | None = None, hours: int | None = None
    ) -> ClockPlan: ...


async def apply_received(conn: Conn, event: Envelope[ReceivedCase], clocks: ClockPlanner) -> bool:
    case = event.data
    if not await store.claim_event(conn, event.id, case.case_id, event.type):
        return False
    await store.upsert_received(conn, case)
    route = clocks.plan("route", case.received_at, DEFAULT_POLICY)
    await store.start_clock(conn, case.case_id, route)
    await store.audit(
        conn,
        case_id=case.case_id,
        event_id=event.id,
        event_type=event.type,
        actor=case.received_by,
        at=event.time,
        outcome="applied",
        policy_version=route.policy_version,
        detail={"channel": case.channel, "category": case.category, "region": case.location.region},
    )
    metrics.CASES_RECEIVED.labels(case.channel).inc()
    metrics.PERSON_TIMES.labels(case.channel).inc(case.people_count)
    return True


async def apply_routed(conn: Conn, event: Envelope[RoutedCase], clocks: ClockPlanner) -> bool:
    routed = event.data
    decision = routed.decision
    if not await store.claim_event(conn, event.id, routed.case_id, event.type):
        return False
    outcome = CLOSING_DISPOSITIONS.get(decision.disposition)
    if outcome is not None:
        stage = "closed"
    elif decision.disposition == "handle":
        stage = "delivered"  # the receiving unit is the handling unit: it has the case already
    else:
        stage = "routed"
    await store.upsert_routed(conn, routed, stage=stage, outcome=outcome)

    policy = decision.deadline_policy
    await store.start_clock(conn, routed.case_id, clocks.plan("route", routed.received_at, DEFAULT_POLICY))
    if outcome is not None or decision.disposition == "handle":
        await store.complete_clock(conn, routed.case_id, "route", routed.routed_at)
    if decision.disposition == "handle":
        await store.start_clock(conn, routed.case_id, clocks.plan("accept", routed.routed_at, policy))
    if decision.disposition == "assign" and routed.assignment is not None:
        plan = clocks.plan("assignment_report", routed.received_at, policy, days=routed.assignment.due_days)
        await store.start_clock(conn, routed.case_id, plan)
    if decision.report_within_hours is not None and outcome is None:
        plan = clocks.plan("urgent_report", routed.received_at, policy, hours=decision.report_within_hours)
        await store.start_clock(conn, routed.case_id, plan)

    await store.audit(
        conn,
        case_id=routed.case_id,
        event_id=event.id,
        event_type=event.type,
        actor="router",
        at=event.time,
        outcome="applied",
        ruleset_version=decision.ruleset_version,
        detail={
            "disposition": decision.disposition,
            "handling_unit": decision.handling_unit,
            "trace": decision.trace,
        },
    )
    metrics.ROUTED.labels(decision.disposition, decision.handling_level or "none").inc()
    metrics.TIME_TO_ROUTE.observe((routed.routed_at - routed.received_at).total_seconds())
    return True
