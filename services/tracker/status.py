"""`case.status`: where a case stands after the tracker applied an event to it. Pure.

The tracker is the only writer of a case's stage; everyone else (intake's status view) follows these
events. One is published for every applied event, in the batch that applies it and before the batch
commits (as the tracker's other messages), with an id derived from the event that caused it: a
replayed batch re-publishes the same ids and versions, and consumers keep the highest version.
"""

from __future__ import annotations

from services.common.envelope import Envelope, deterministic_id, wrap
from services.common.schemas import (
    CaseStatusBody,
    DueClock,
    RoutedCase,
    StatusCause,
    StatusRouting,
)
from services.common.topics import CASE_STATUS
from services.tracker.engine import CaseRecord, Incoming
from services.tracker.stages import petition_status as petition_status

SOURCE = "xinfang/tracker"


def status_event(case: CaseRecord, incoming: Incoming) -> Envelope[CaseStatusBody]:
    """The case.status event of `case` (as stored after `incoming` was applied)."""
    row = case.row
    stage = str(row["stage"])
    routed = incoming.body if isinstance(incoming.body, RoutedCase) else None
    due = [
        DueClock(
            stage=name, due_date=stored.due_at.astimezone(stored.clock.policy.timezone).date(), due_at=stored.due_at
        )
        for name, stored in sorted(case.clocks.items())
        if stored.clock.completed_at is None
    ]
    body = CaseStatusBody(
        case_id=incoming.case_id,
        version=int(row["status_seq"]),
        stage=stage,
        status=petition_status(stage),
        closed=bool(row.get("closed")),
        handling_unit=row.get("handling_unit"),
        co_units=list(row.get("co_units") or ()),
        due=due,
        cause=StatusCause(event_id=incoming.event_id, type=incoming.type, at=incoming.at),
        routing=StatusRouting(
            received_event_id=routed.received_event_id, routed_at=routed.routed_at, decision=routed.decision
        )
        if routed is not None
        else None,
    )
    return wrap(
        body,
        type=CASE_STATUS.name,
        source=SOURCE,
        case_id=incoming.case_id,
        event_id=deterministic_id(CASE_STATUS.name, incoming.event_id),
    )
