"""One event meets one stored case: what changes, or why nothing does. Pure: no I/O.

The state machine (`lifecycle.apply`) is the single source of truth for stages and for which event
is legal when. The clock book (`timeline.step`, the same code `xf deadlines` replays timelines
with) moves the stage clocks. The result is either
- Applied: the case columns and clock rows to write, the transition for the audit, and any event
  the tracker itself must publish (the conclusion that follows a re-review);
- Held: the event needs one not seen yet (replied before accepted, anything before the case was
  received); the caller parks it and retries when the case changes;
- Refused: it does not fit and never will (illegal transition, closed case, extension bound...);
- Duplicate: it was applied already.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from services.common.envelope import deterministic_id
from services.common.lifecycle import (
    Concluded,
    Extended,
    LifecycleEvent,
    Reassigned,
    RereviewRequested,
    ReviewRequested,
)
from services.common.schemas import ReceivedCase, RoutedCase
from services.tracker import units
from services.tracker.clock import Clock, ClockError
from services.tracker.lifecycle import (
    CaseState,
    ExtensionRecord,
    PauseRecord,
    Refusal,
    Transition,
    apply,
)
from services.tracker.policy import DeadlinePolicy, PolicyError, Stage
from services.tracker.records import ClockWrite, PolicyResolver, StoredClock, clock_write
from services.tracker.stages import EVENTS, WINDOWS, CaseStage
from services.tracker.timeline import ClockBook, TimelineError, TimelineEvent, open_case, step

TRACKER_ACTOR = "tracker"
CaseEvent = ReceivedCase | RoutedCase | LifecycleEvent
# Case columns that record when the case last reached a stage (for the views and the read API).
_STAMPS: dict[str, str] = {
    "delivered": "delivered_at",
    "accepted": "accepted_at",
    "rejected": "rejected_at",
    "replied": "replied_at",
    "review_requested": "review_requested_at",
    "reviewed": "reviewed_at",
    "rereview_requested": "rereview_requested_at",
    "rereviewed": "rereviewed_at",
}
# The petitioner's requests, by the window each answers.
_WINDOW_OF_REQUEST: dict[str, Stage] = {
    kind: rule.finishes for kind, rule in EVENTS.items() if rule.finishes is not None and rule.finishes in WINDOWS
}


@dataclass(frozen=True)
class Incoming:
    """An event as the tracker applies it, whichever topic it came from."""

    event_id: str
    case_id: str
    type: str  # received, routed, or a lifecycle type
    actor: str
    at: datetime
    body: CaseEvent


@dataclass(frozen=True)
class CaseRecord:
    """A stored case: its row (column → value) and its current clocks (superseded ones left out)."""

    row: Mapping[str, Any]
    clocks: Mapping[Stage, StoredClock]


@dataclass(frozen=True)
class Applied:
    transition: Transition
    case: dict[str, Any]  # columns to write (all of them for a new case)
    new_case: bool
    clocks: list[ClockWrite]
    superseded: list[Stage]
    policy_version: str | None
    derived: list[LifecycleEvent] = field(default_factory=list)


@dataclass(frozen=True)
class Held:
    kind: str  # premature | unknown_case
    reason: str


@dataclass(frozen=True)
class Refused:
    kind: str
    reason: str


@dataclass(frozen=True)
class Duplicate:
    reason: str


Outcome = Applied | Held | Refused | Duplicate


def decide(record: CaseRecord | None, incoming: Incoming, resolver: PolicyResolver) -> Outcome:
    body = incoming.body
    if isinstance(body, ReceivedCase):
        return _received(record, body, resolver)
    if record is None:
        return Held("unknown_case", f"{incoming.type} for a case not received yet")
    state = state_of(record, resolver)
    result = apply(state, body, resolver.policies)
    if isinstance(result, Refusal):
        return _refusal(result)
    if isinstance(body, RoutedCase):
        return _routed(record, state, result, body, resolver)
    return _lifecycle(record, result, body, resolver)


def _refusal(refusal: Refusal) -> Held | Refused | Duplicate:
    if refusal.kind == "premature":
        return Held("premature", refusal.reason)
    if refusal.kind == "duplicate":
        return Duplicate(refusal.reason)
    return Refused(refusal.kind, refusal.reason)


# --- received ----------------------------------------------------------------------------------------


def receipt_policy_name(resolver: PolicyResolver, has_assignment: bool) -> str:
    """The policy of the clocks that start before routing names one (route, assignment_report)."""
    names = resolver.policies.names
    if has_assignment and "assignment" in names and resolver.named("assignment").has("assignment_report"):
        return "assignment"
    if "standard" in names:
        return "standard"
    return next(n for n in names if resolver.named(n).has("route"))


def _received(record: CaseRecord | None, case: ReceivedCase, resolver: PolicyResolver) -> Outcome:
    if record is not None:
        return Duplicate("the case was already received")
    result = apply(None, case, resolver.policies)
    if isinstance(result, Refusal):
        return _refusal(result)
    policy_name = receipt_policy_name(resolver, case.assignment is not None or case.channel == "assignment")
    book = ClockBook(resolver.named(policy_name))
    try:
        open_case(
            book,
            case.received_at,
            assignment_days=case.assignment.due_days if case.assignment else None,
            assignment_channel=case.channel == "assignment",
            report_hours=None,
            strict=False,
        )
    except (PolicyError, ClockError, TimelineError) as error:
        return Refused("unknown_policy", f"cannot start the receipt clocks: {error}")
    row: dict[str, Any] = {
        "case_id": case.case_id,
        "received_at": case.received_at,
        "channel": case.channel,
        "category": case.category,
        "region": case.location.region,
        "people_count": case.people_count,
        "received_by": case.received_by,
        "stage": "received",
        "stage_since": case.received_at,
        "closed": False,
        "assignment_from": case.assignment.from_unit if case.assignment else None,
        "assignment_due_days": case.assignment.due_days if case.assignment else None,
        "last_event_at": case.received_at,
    }
    new_record = CaseRecord(row, {})
    writes, _ = _clock_writes(new_record, book, result.state, row)
    return Applied(result, row, True, writes, [], book.policy.version)


# --- routed ------------------------------------------------------------------------------------------


def _routed(
    record: CaseRecord, state: CaseState, result: Transition, routed: RoutedCase, resolver: PolicyResolver
) -> Outcome:
    decision = routed.decision
    book = _book(record, resolver)
    book.policy = resolver.named(decision.deadline_policy)  # `apply` checked that it exists
    event = TimelineEvent(
        type="routed",
        at=routed.routed_at,
        report_within_hours=decision.report_within_hours,
        deadline_policy=decision.deadline_policy,
        disposition=decision.disposition,
    )
    try:
        step(book, event, record.row["received_at"])
    except (PolicyError, ClockError, TimelineError) as error:
        return Refused("unknown_policy" if isinstance(error, PolicyError) else "illegal", str(error))
    new = result.state
    patch = _state_columns(record, new, routed.routed_at)
    patch.update(
        {
            "handling_level": decision.handling_level,
            "co_units": list(decision.co_units),
            "lead_leader": decision.lead_leader,
            "urgency": decision.urgency,
            "flags": list(decision.flags),
            "deadline_policy": decision.deadline_policy,
            "ruleset_version": decision.ruleset_version,
            "routed_at": routed.routed_at,
        }
    )
    if new.stage == "delivered":
        patch["delivered_at"] = routed.routed_at
    writes, superseded = _clock_writes(record, book, new, {**record.row, **patch})
    return Applied(result, patch, False, writes, superseded, book.policy.version)


# --- lifecycle ---------------------------------------------------------------------------------------


def _lifecycle(record: CaseRecord, result: Transition, event: LifecycleEvent, resolver: PolicyResolver) -> Outcome:
    window = _WINDOW_OF_REQUEST.get(event.type)
    if window is not None and window in record.clocks:
        stored = record.clocks[window]
        if stored.clock.completed_at is None and event.at > stored.due_at:
            lapsed = stored.due_at.astimezone(stored.clock.policy.timezone).date().isoformat()
            return Refused("illegal", f"{event.type}: the {window} lapsed on {lapsed}; the case is concluded")
    book = _book(record, resolver)
    try:
        step(book, _timeline_event(event), record.row["received_at"])
    except (ClockError, TimelineError) as error:
        kind = "extension_bound" if isinstance(event, Extended) else "illegal"
        return Refused(kind, f"{event.type}: {error}")
    new = result.state
    patch = _state_columns(record, new, event.at)
    stamp = _STAMPS.get(event.type)
    if stamp is not None:
        patch[stamp] = event.at
    if isinstance(event, Reassigned):
        region, _ = units.split(event.unit)
        patch.update({"handling_level": units.region_level(region), "delivered_at": event.at, "accepted_at": None})
    elif isinstance(event, ReviewRequested):
        patch["review_unit"] = event.unit or units.supervisor(new.handling_unit or record.row["received_by"])
    elif isinstance(event, RereviewRequested):
        reviewer = record.row.get("review_unit") or new.handling_unit or record.row["received_by"]
        patch["rereview_unit"] = event.unit or units.supervisor(reviewer)
    writes, superseded = _clock_writes(record, book, new, {**record.row, **patch})
    derived: list[LifecycleEvent] = []
    if event.type == "rereviewed":
        # 三级终结: the re-review is the last decision; the tracker concludes the case itself.
        derived.append(
            Concluded(
                event_id=deterministic_id("tracker-conclusion", event.event_id),
                case_id=event.case_id,
                at=event.at,
                actor=TRACKER_ACTOR,
            )
        )
    return Applied(result, patch, False, writes, superseded, book.policy.version, derived)


def _timeline_event(event: LifecycleEvent) -> TimelineEvent:
    fields: dict[str, Any] = {"type": event.type, "at": event.at}
    for name in ("days", "reason", "approved_by", "unit", "report"):
        value = getattr(event, name, None)
        if value is not None:
            fields[name] = value
    return TimelineEvent.model_validate(fields)


# --- shared ------------------------------------------------------------------------------------------


def advanced(record: CaseRecord | None, applied: Applied) -> CaseRecord:
    """The case as it is stored once `applied` is written (what reloading it would give)."""
    row = dict(applied.case) if record is None or applied.new_case else {**record.row, **applied.case}
    clocks = {} if record is None else dict(record.clocks)
    for stage in applied.superseded:
        clocks.pop(stage, None)
    for write in applied.clocks:
        clocks[write.stage] = write.stored()
    return CaseRecord(row, clocks)


def state_of(record: CaseRecord, resolver: PolicyResolver) -> CaseState:
    """The state machine's view of a stored case."""
    row = record.row
    policy: DeadlinePolicy | None = None
    if row.get("deadline_policy"):
        try:
            policy = resolver.named(row["deadline_policy"])
        except PolicyError:
            policy = None
    pauses: list[PauseRecord] = []
    extensions: list[ExtensionRecord] = []
    for clock_stage, stored in record.clocks.items():
        pauses.extend(PauseRecord(clock_stage, p.started_at, p.reason, p.ended_at) for p in stored.clock.pauses)
        extensions.extend(
            ExtensionRecord(clock_stage, e.days, e.reason, e.approved_by, e.at) for e in stored.clock.extensions
        )
    pauses.sort(key=lambda p: p.started_at)
    extensions.sort(key=lambda e: e.at)
    stage: CaseStage = row["stage"]
    return CaseState(
        case_id=row["case_id"],
        stage=stage,
        received_at=row["received_at"],
        stage_since=row.get("stage_since") or row.get("routed_at") or row["received_at"],
        channel=row["channel"],
        handling_unit=row.get("handling_unit"),
        disposition=row.get("disposition"),
        policy=policy,
        report_within_hours=row.get("report_within_hours"),
        open_clocks=frozenset(s for s, c in record.clocks.items() if c.clock.completed_at is None),
        pauses=tuple(pauses),
        extensions=tuple(extensions),
        reports=frozenset(row.get("reports") or ()),
        satisfied=row.get("satisfied"),
    )


def _book(record: CaseRecord, resolver: PolicyResolver) -> ClockBook:
    """The case's clocks, with the policy new clocks start under: today's version of its named policy."""
    row = record.row
    name = row.get("deadline_policy") or receipt_policy_name(resolver, bool(row.get("assignment_due_days")))
    clocks: dict[Stage, Clock] = {stage: stored.clock for stage, stored in record.clocks.items()}
    try:
        policy = resolver.named(name)
    except PolicyError:
        # The rule file no longer defines it: new clocks follow the policy the latest one started with.
        policy = max(clocks.values(), key=lambda c: c.started_at).policy
    return ClockBook(policy, clocks)


def _state_columns(record: CaseRecord, new: CaseState, at: datetime) -> dict[str, Any]:
    row = record.row
    patch: dict[str, Any] = {
        "stage": new.stage,
        "stage_since": new.stage_since,
        "closed": new.closed,
        "outcome": new.stage if new.closed else None,
        "handling_unit": new.handling_unit,
        "disposition": new.disposition,
        "report_within_hours": new.report_within_hours,
        "reports": sorted(new.reports),
        "satisfied": new.satisfied,
        "last_event_at": max(at, row.get("last_event_at") or at),
    }
    if new.closed and not row.get("closed"):
        patch["closed_at"] = at
    return patch


def _responsible_unit(stage: Stage, row: Mapping[str, Any]) -> str | None:
    handling = row.get("handling_unit") or row.get("received_by")
    if stage == "route":
        return row.get("received_by")
    if stage == "review":
        return row.get("review_unit") or (units.supervisor(handling) if handling else None)
    if stage == "rereview":
        reviewer = row.get("review_unit") or (units.supervisor(handling) if handling else None)
        return row.get("rereview_unit") or (units.supervisor(reviewer) if reviewer else None)
    if stage in WINDOWS:
        return None  # the petitioner's window: nobody is alerted
    return handling


def _clock_writes(
    record: CaseRecord, book: ClockBook, new: CaseState, row: Mapping[str, Any]
) -> tuple[list[ClockWrite], list[Stage]]:
    """The clock rows that changed (new, moved, completed, re-addressed) and the stages dropped."""
    writes: list[ClockWrite] = []
    for stage, clock in book.clocks.items():
        before = record.clocks.get(stage)
        unit = _responsible_unit(stage, row)
        if before is not None and before.clock is clock and before.unit == unit:
            continue
        restarted = before is None or clock.started_at != before.clock.started_at
        generation = 1 if before is None else before.generation + (1 if restarted else 0)
        alert_level = 0 if restarted or before is None else before.alert_level
        write = clock_write(clock, generation=generation, unit=unit, alert_level=alert_level)
        if before is not None and not restarted and write.due_at != before.due_at and alert_level:
            # The due date moved (extension, resumed pause): its thresholds are new ones.
            write = clock_write(clock, generation=generation, unit=unit, alert_level=0)
        writes.append(write)
    superseded = [stage for stage in record.clocks if stage not in book.clocks]
    return writes, superseded
