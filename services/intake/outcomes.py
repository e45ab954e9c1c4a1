"""What happened to intake's cases after they left: `case.routed` and `case.lifecycle` fed back.

Intake needs them for two answers: a case's status and routing (GET /v1/cases/{id}, and which unit's
list it is on), and the same-matter history of later cases (DOMAIN.md §4.3):
- `history.open_case_id` is the earliest case of the matter whose status is `open` and that is
  not itself attached to another (`merged_into`);
- `history.concluded` is true once any case of the matter is `concluded`: its re-review finished
  (`rereviewed`) or it was declared concluded (`concluded`: e.g. no review requested in time).

Status follows from the routing disposition (§4.4) and lifecycle events (§4.5):
- handle, forward, assign → open; merge → merged; divert_legal, redirect, reject_concluded → closed;
- rejected (不予受理), withdrawn → closed; rereviewed, concluded → concluded.
Routing never reopens a case a lifecycle event ended, and only `concluded` overrides `closed`.
Replays are harmless (every update sets a value, none adds), and each case's events arrive in order
(every topic is keyed by case id), so no event-id bookkeeping is needed here.
"""

from __future__ import annotations

from typing import Literal

from services.common.db import Conn
from services.common.envelope import Envelope
from services.common.lifecycle import LifecycleEvent, Reassigned
from services.common.schemas import Disposition, RoutedCase

CaseStatus = Literal["open", "merged", "closed", "concluded"]
CASE_STATUSES: tuple[CaseStatus, ...] = ("open", "merged", "closed", "concluded")

DISPOSITION_STATUS: dict[Disposition, CaseStatus] = {
    "handle": "open",
    "forward": "open",
    "assign": "open",
    "merge": "merged",
    "divert_legal": "closed",
    "redirect": "closed",
    "reject_concluded": "closed",
}
LIFECYCLE_STATUS: dict[str, CaseStatus] = {
    "rejected": "closed",
    "withdrawn": "closed",
    "rereviewed": "concluded",
    "concluded": "concluded",
}
# The statuses an event may replace.
_REPLACEABLE: dict[CaseStatus, tuple[CaseStatus, ...]] = {
    "open": (),
    "merged": ("open",),
    "closed": ("open", "merged"),
    "concluded": ("open", "merged", "closed"),
}


def status_after_routing(disposition: Disposition) -> CaseStatus:
    return DISPOSITION_STATUS[disposition]


def replaceable(status: CaseStatus) -> list[str]:
    return list(_REPLACEABLE[status])


async def apply_routed(conn: Conn, event: Envelope[RoutedCase]) -> bool:
    """Record the decision; False when the case is not intake's (or the decision is older)."""
    routed = event.data
    decision = routed.decision
    stored = await conn.fetchval(
        """INSERT INTO routings (case_id, event_id, received_event_id, routed_at, disposition, handling_unit,
                                 handling_level, co_units, lead_leader, urgency, report_within_hours, flags,
                                 deadline_policy, trace, ruleset_version)
           SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15
           WHERE EXISTS (SELECT 1 FROM cases WHERE case_id = $1)
           ON CONFLICT (case_id) DO UPDATE SET
               event_id = excluded.event_id, received_event_id = excluded.received_event_id,
               routed_at = excluded.routed_at, disposition = excluded.disposition,
               handling_unit = excluded.handling_unit, handling_level = excluded.handling_level,
               co_units = excluded.co_units, lead_leader = excluded.lead_leader, urgency = excluded.urgency,
               report_within_hours = excluded.report_within_hours, flags = excluded.flags,
               deadline_policy = excluded.deadline_policy, trace = excluded.trace,
               ruleset_version = excluded.ruleset_version
           WHERE routings.routed_at <= excluded.routed_at
           RETURNING case_id""",
        routed.case_id,
        event.id,
        routed.received_event_id,
        routed.routed_at,
        decision.disposition,
        decision.handling_unit,
        decision.handling_level,
        list(decision.co_units),
        decision.lead_leader,
        decision.urgency,
        decision.report_within_hours,
        list(decision.flags),
        decision.deadline_policy,
        list(decision.trace),
        decision.ruleset_version,
    )
    if stored is None:
        return False
    status = status_after_routing(decision.disposition)
    await conn.execute(
        """UPDATE cases SET
               handling_unit = CASE WHEN reassigned THEN handling_unit ELSE $2 END,
               co_units = $3,
               status = CASE WHEN status = ANY($5::text[]) THEN $4 ELSE status END,
               -- attached to the open case only when the router merged it
               merged_into = CASE WHEN $6 THEN merged_into END,
               stage = CASE WHEN stage = 'received' THEN 'routed' ELSE stage END,
               stage_at = coalesce(stage_at, $7)
           WHERE case_id = $1""",
        routed.case_id,
        decision.handling_unit,
        list(decision.co_units),
        status,
        replaceable(status),
        decision.disposition == "merge",
        routed.routed_at,
    )
    return True


async def apply_lifecycle(conn: Conn, event: LifecycleEvent) -> bool:
    """Record the step; False when the case is not intake's."""
    status = LIFECYCLE_STATUS.get(event.type)
    new_unit = event.unit if isinstance(event, Reassigned) else None
    updated = await conn.fetchval(
        """UPDATE cases SET
               -- a lifecycle step always follows routing; among steps, the latest wins
               stage = CASE WHEN stage IN ('received', 'routed') OR stage_at <= $2 THEN $3 ELSE stage END,
               stage_at = CASE WHEN stage IN ('received', 'routed') THEN $2 ELSE greatest(stage_at, $2) END,
               status = CASE WHEN $4::text IS NOT NULL AND status = ANY($5::text[]) THEN $4 ELSE status END,
               handling_unit = coalesce($6::text, handling_unit),
               reassigned = reassigned OR $6::text IS NOT NULL
           WHERE case_id = $1 RETURNING case_id""",
        event.case_id,
        event.at,
        event.type,
        status,
        replaceable(status) if status else [],
        new_unit,
    )
    return updated is not None
