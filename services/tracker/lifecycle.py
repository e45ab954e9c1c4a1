"""The case lifecycle as a pure state machine: `apply(state, event) -> Transition | Refusal`.

received → routed → delivered → accepted → replied (review window) → review_requested → reviewed
→ rereview_requested → rereviewed → concluded. Routing dispositions merge, divert_legal, redirect and
reject_concluded end the case at routing; rejected (不予受理) and withdrawn end it later. reassigned
sends the case back to the accept stage with the new unit. No I/O: the caller stores the state.
Which event is legal where, the stage it reaches, the clocks it opens and closes and what ends a case
are the table in services/tracker/stages.py; this module applies it.

Disposition `handle` (本机关办理): the receiving unit is the handling unit and already has the case,
so routing counts as delivery: the case goes straight to `delivered` and the accept clock starts at
routing. A later `delivered` from that unit's own system is taken as a no-op. Every routing that
does not end the case completes the route stage (登记、转送、交办 done).

Refusal kinds:
- unknown_case: a routed or lifecycle event for a case never received.
- wrong_case: the event names another case.
- duplicate: an event id already applied, or a second `case.received` (safe to drop).
- case_closed: the case has ended (only feedback and reports are still taken).
- premature: the event needs an earlier one not seen yet (replied before accepted); retry later.
- illegal: the event does not fit the case's stage (accepted after replied, routed twice...).
- already_paused / not_paused: pause bookkeeping.
- extension_bound: the extension is not allowed, exceeds the bound, or misses its approval.
- unknown_policy: the routing decision names a deadline policy the rule file does not define.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Literal

from services.common.lifecycle import (
    Extended,
    Feedback,
    LifecycleEvent,
    Paused,
    Reassigned,
    Reported,
)
from services.common.schemas import Channel, Disposition, ReceivedCase, RoutedCase
from services.tracker.policy import DeadlinePolicies, DeadlinePolicy, PolicyError
from services.tracker.stages import (
    ASSIGNMENT_OPENS,
    DELIVERING_DISPOSITION,
    ENDING_DISPOSITIONS,
    EVENTS,
    MAIN_LINE,
    RECEIPT_OPENS,
    REPORT_CLOCK,
    ROUTING_CLOSES,
    ROUTING_DELIVERY_OPENS,
    TERMINAL,
    UNIT_CLOCK,
    URGENT_OPENS,
    CaseStage,
    Stage,
)

RefusalKind = Literal[
    "unknown_case",
    "wrong_case",
    "duplicate",
    "case_closed",
    "premature",
    "illegal",
    "already_paused",
    "not_paused",
    "extension_bound",
    "unknown_policy",
]

# A state's rank on the main line tells "not yet" (premature) from "no longer" (illegal).
_RANK = {stage: i for i, stage in enumerate(MAIN_LINE)}
ALLOWED_FROM: dict[str, frozenset[CaseStage]] = {kind: rule.allowed_from for kind, rule in EVENTS.items()}


@dataclass(frozen=True)
class PauseRecord:
    stage: Stage
    started_at: datetime
    reason: str
    ended_at: datetime | None = None


@dataclass(frozen=True)
class ExtensionRecord:
    stage: Stage
    days: int
    reason: str
    approved_by: str
    at: datetime


@dataclass(frozen=True)
class CaseState:
    case_id: str
    stage: CaseStage
    received_at: datetime
    stage_since: datetime
    channel: Channel
    handling_unit: str | None = None
    disposition: Disposition | None = None
    policy: DeadlinePolicy | None = None  # captured at routing: running clocks keep it
    report_within_hours: int | None = None
    open_clocks: frozenset[Stage] = frozenset()
    pauses: tuple[PauseRecord, ...] = ()
    extensions: tuple[ExtensionRecord, ...] = ()
    reports: frozenset[str] = frozenset()
    satisfied: bool | None = None
    seen_event_ids: frozenset[str] = frozenset()

    @property
    def closed(self) -> bool:
        return self.stage in TERMINAL

    @property
    def paused(self) -> bool:
        return bool(self.pauses) and self.pauses[-1].ended_at is None


@dataclass(frozen=True)
class Transition:
    state: CaseState
    event_type: str
    opens: tuple[Stage, ...] = ()
    closes: tuple[Stage, ...] = ()


@dataclass(frozen=True)
class Refusal:
    kind: RefusalKind
    reason: str
    case_id: str
    event_type: str


CaseEvent = ReceivedCase | RoutedCase | LifecycleEvent
_Refuse = Callable[[RefusalKind, str], Refusal]


def apply(
    state: CaseState | None,
    event: CaseEvent,
    policies: DeadlinePolicies | None = None,
) -> Transition | Refusal:
    """Apply one event. `policies` resolves the decision's deadline policy when the case is routed."""
    if isinstance(event, ReceivedCase):
        return _received(state, event)
    if isinstance(event, RoutedCase):
        return _routed(state, event, policies)
    return _lifecycle(state, event)


def _received(state: CaseState | None, event: ReceivedCase) -> Transition | Refusal:
    if state is not None:
        return Refusal("duplicate", "the case was already received", event.case_id, "received")
    opens: tuple[Stage, ...] = (*RECEIPT_OPENS, ASSIGNMENT_OPENS) if event.assignment else RECEIPT_OPENS
    new = CaseState(
        case_id=event.case_id,
        stage="received",
        received_at=event.received_at,
        stage_since=event.received_at,
        channel=event.channel,
        open_clocks=frozenset(opens),
    )
    return Transition(new, "received", opens=opens)


def _routed(state: CaseState | None, event: RoutedCase, policies: DeadlinePolicies | None) -> Transition | Refusal:
    if state is None:
        return Refusal("unknown_case", "routed before the case was received", event.case_id, "routed")
    if state.case_id != event.case_id:
        return Refusal("wrong_case", f"event for {event.case_id} applied to {state.case_id}", state.case_id, "routed")
    if state.stage != "received":
        return Refusal("illegal", f"the case was already routed (it is {state.stage})", state.case_id, "routed")
    decision = event.decision
    policy = None
    if policies is not None:
        try:
            policy = policies.get(decision.deadline_policy)
        except PolicyError as exc:
            return Refusal("unknown_policy", str(exc), state.case_id, "routed")
    routed = replace(
        state,
        handling_unit=decision.handling_unit,
        disposition=decision.disposition,
        policy=policy,
        report_within_hours=decision.report_within_hours,
        stage_since=event.routed_at,
    )
    ending = ENDING_DISPOSITIONS.get(decision.disposition)
    if ending is not None:
        closes = tuple(sorted(state.open_clocks))
        return Transition(replace(routed, stage=ending, open_clocks=frozenset()), "routed", closes=closes)
    delivered = decision.disposition == DELIVERING_DISPOSITION
    opens: tuple[Stage, ...] = ROUTING_DELIVERY_OPENS if delivered else ()
    if decision.report_within_hours:
        opens = (*opens, URGENT_OPENS)
    closes = tuple(s for s in ROUTING_CLOSES if s in state.open_clocks)
    stage: CaseStage = "delivered" if delivered else "routed"
    new = replace(routed, stage=stage, open_clocks=(state.open_clocks - set(closes)) | set(opens))
    return Transition(new, "routed", opens=opens, closes=closes)


def _lifecycle(state: CaseState | None, event: LifecycleEvent) -> Transition | Refusal:
    kind = event.type

    def refuse(why: RefusalKind, reason: str) -> Refusal:
        return Refusal(why, reason, event.case_id, kind)

    if state is None:
        return refuse("unknown_case", f"{kind} for a case never received")
    if state.case_id != event.case_id:
        return refuse("wrong_case", f"event for {event.case_id} applied to {state.case_id}")
    if event.event_id in state.seen_event_ids:
        return refuse("duplicate", f"event {event.event_id} was already applied")
    if event.at < state.received_at:
        return refuse("illegal", f"{kind} at {event.at.isoformat()} is before the case was received")

    if kind == "delivered" and state.stage == "delivered" and state.disposition == DELIVERING_DISPOSITION:
        # Routing already delivered a `handle` case; the unit's own system confirming it changes nothing.
        return Transition(replace(state, seen_event_ids=state.seen_event_ids | {event.event_id}), kind)

    allowed = ALLOWED_FROM[kind]
    if state.stage not in allowed:
        return _misplaced(state, kind, allowed, refuse)

    checked = _check_special(state, event, refuse)
    if checked is not None:
        return checked

    new = _record(state, event)
    rule = EVENTS[kind]
    closes: tuple[Stage, ...]
    opens: tuple[Stage, ...] = rule.opens
    if rule.closes_all:
        closes = tuple(sorted(state.open_clocks))
    elif isinstance(event, Reported):
        stage = REPORT_CLOCK[event.report]
        closes = (stage,) if stage in state.open_clocks else ()
    else:
        closes = tuple(s for s in rule.closes if s in state.open_clocks)
    new = replace(new, open_clocks=(new.open_clocks - set(closes)) | set(opens))
    return Transition(new, kind, opens=opens, closes=closes)


def _misplaced(state: CaseState, kind: str, allowed: frozenset[CaseStage], refuse: _Refuse) -> Refusal:
    if state.closed:
        return refuse("case_closed", f"the case has ended ({state.stage}); {kind} is not taken")
    earliest = min((s for s in allowed if s in _RANK), key=_RANK.__getitem__)
    if _RANK[state.stage] < _RANK[earliest]:
        return refuse(
            "premature",
            f"{kind} needs the case to be {earliest} first; it is {state.stage} (an earlier event is missing)",
        )
    return refuse("illegal", f"{kind} is not allowed when the case is {state.stage}")


def _check_special(state: CaseState, event: LifecycleEvent, refuse: _Refuse) -> Refusal | None:
    if event.type == "paused" and state.paused:
        return refuse("already_paused", f"already paused since {state.pauses[-1].started_at.isoformat()}")
    if event.type == "resumed" and not state.paused:
        return refuse("not_paused", "resumed without a pause")
    if isinstance(event, Extended):
        return _check_extension(state, event, refuse)
    return None


def _check_extension(state: CaseState, event: Extended, refuse: _Refuse) -> Refusal | None:
    stage = UNIT_CLOCK[state.stage]
    if state.policy is None:
        return refuse("extension_bound", "no deadline policy recorded for the case; cannot check the bound")
    if not state.policy.has(stage):
        return refuse("extension_bound", f"policy {state.policy.name!r} has no {stage} stage")
    sp = state.policy.stage(stage)
    if sp.max_extension_days == 0:
        return refuse("extension_bound", f"the {stage} stage cannot be extended under {state.policy.name!r}")
    granted = [e for e in state.extensions if e.stage == stage and e.at >= state.stage_since]
    if len(granted) >= sp.max_extensions:
        return refuse(
            "extension_bound",
            f"the {stage} stage allows {sp.max_extensions} extension(s); {len(granted)} already granted",
        )
    used = sum(e.days for e in granted)
    if used + event.days > sp.max_extension_days:
        return refuse(
            "extension_bound",
            f"{event.days} more days would exceed the {stage} maximum of {sp.max_extension_days} (used {used})",
        )
    return None


def _record(state: CaseState, event: LifecycleEvent) -> CaseState:
    kind = event.type
    pauses = state.pauses
    if isinstance(event, Paused):
        pauses = (*pauses, PauseRecord(UNIT_CLOCK[state.stage], event.at, event.reason))
    elif state.paused and (kind == "resumed" or EVENTS[kind].reaches is not None):
        # Any event that moves the case on also ends an open pause.
        pauses = (*pauses[:-1], replace(pauses[-1], ended_at=event.at))
    new = replace(state, pauses=pauses, seen_event_ids=state.seen_event_ids | {event.event_id})
    if isinstance(event, Extended):
        record = ExtensionRecord(UNIT_CLOCK[state.stage], event.days, event.reason, event.approved_by, event.at)
        new = replace(new, extensions=(*new.extensions, record))
    elif isinstance(event, Feedback):
        new = replace(new, satisfied=event.satisfied)
    elif isinstance(event, Reported):
        new = replace(new, reports=new.reports | {event.report})
    elif isinstance(event, Reassigned):
        new = replace(new, handling_unit=event.unit)
    reaches = EVENTS[kind].reaches
    if reaches is not None:
        new = replace(new, stage=reaches, stage_since=event.at)
    return new
