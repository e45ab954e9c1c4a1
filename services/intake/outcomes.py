"""What happened to intake's cases after they left: the tracker's `case.status` events.

The tracker is the only writer of a case's stage: it applies routing decisions and units' lifecycle
events (refusing forged, out-of-scope and illegal ones) and publishes where each case stands after
every event it applied. Intake keeps a copy for two answers: a case's status and routing
(GET /v1/cases/{id}, and which unit's list it is on), and the same-matter history of later cases
(docs/domain.md §5.1: `history.open_case_id` is the earliest `open` case of the matter not attached to
another, `history.concluded` is true once any case of the matter is `concluded`).

Each event carries the case's version (the number of events applied to it); an older or repeated one
changes nothing, so replays and redeliveries are harmless. Intake never reads a partner's raw event.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from pydantic import ValidationError

from services.common.bounded import Refused, load_json
from services.common.db import Conn
from services.common.envelope import Envelope
from services.common.errors import describe_validation_error
from services.common.schemas import CaseStatusBody

log = logging.getLogger("xf.intake.outcomes")
STATUS_TYPE = "case.status"
_STATUS = Envelope[CaseStatusBody]
_EARLIEST = datetime(1990, 1, 1, tzinfo=UTC)
_LATEST = datetime(2200, 1, 1, tzinfo=UTC)


class StatusUnreadable(ValueError):
    pass


def read_status(value: bytes | None) -> Envelope[CaseStatusBody]:
    """The event in a `case.status` record, bounded before it is parsed, or StatusUnreadable."""
    raw = value or b""
    try:
        load_json(raw)  # bounds first; then strictly: only the tracker writes this, a "2" for 2 is a forgery or a bug
        envelope = _STATUS.model_validate_json(raw, strict=True)
    except Refused as refused:
        raise StatusUnreadable(refused.code) from None
    except ValidationError as error:
        raise StatusUnreadable(describe_validation_error(error)) from None
    if envelope.type != STATUS_TYPE or envelope.caseid != envelope.data.case_id:
        raise StatusUnreadable(f"type {envelope.type!r} or caseid does not match a case.status event")
    status = envelope.data
    times = [status.cause.at, *(clock.due_at for clock in status.due)]
    if status.routing is not None:
        times.append(status.routing.routed_at)
    if not all(_storable(moment) for moment in times):
        raise StatusUnreadable("a time outside 1990-2200: PostgreSQL could not store it")
    return envelope


def _storable(moment: datetime) -> bool:
    try:
        return _EARLIEST <= moment.astimezone(UTC) <= _LATEST
    except OverflowError:  # 9999-12-31T23:59:59-12:00 is past year 9999 in UTC
        return False


async def apply_status(conn: Conn, event: Envelope[CaseStatusBody]) -> bool:
    """Record where the case stands; False when it is not intake's case or the event is not newer."""
    status = event.data
    routing = status.routing
    updated = await conn.fetchval(
        """UPDATE cases SET
               status = $3, stage = $4, stage_at = $5, handling_unit = $6, co_units = $7, status_version = $2,
               -- attached to the open case only when the router merged it
               merged_into = CASE WHEN $8::text IS NULL THEN merged_into
                                  WHEN $8 = 'merge' THEN merged_into END
           WHERE case_id = $1 AND status_version < $2 RETURNING case_id""",
        status.case_id,
        status.version,
        status.status,
        status.cause.type,
        status.cause.at,
        status.handling_unit,
        list(status.co_units),
        routing.decision.disposition if routing else None,
    )
    if updated is None:
        return False
    if routing is not None:
        decision = routing.decision
        await conn.execute(
            """INSERT INTO routings (case_id, event_id, received_event_id, routed_at, disposition, handling_unit,
                                     handling_level, co_units, lead_leader, urgency, report_within_hours, flags,
                                     deadline_policy, trace, ruleset_version)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
               -- only reached with a newer status: the routing the tracker now holds
               ON CONFLICT (case_id) DO UPDATE SET
                   event_id = excluded.event_id, received_event_id = excluded.received_event_id,
                   routed_at = excluded.routed_at, disposition = excluded.disposition,
                   handling_unit = excluded.handling_unit, handling_level = excluded.handling_level,
                   co_units = excluded.co_units, lead_leader = excluded.lead_leader, urgency = excluded.urgency,
                   report_within_hours = excluded.report_within_hours, flags = excluded.flags,
                   deadline_policy = excluded.deadline_policy, trace = excluded.trace,
                   ruleset_version = excluded.ruleset_version""",
            status.case_id,
            status.cause.event_id,
            routing.received_event_id,
            routing.routed_at,
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
    return True
