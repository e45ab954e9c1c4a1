"""Legal deadlines: the public face of the policy file, the due-date rule and timeline evaluation.

One small set of objects owns "when is this due": `DeadlinePolicies` (rules/deadlines.yaml, with
the calendar as data), `due_for`/`Clock` (one stage's due date, pauses and extensions) and
`evaluate_timeline` (every stage of a case at an instant). The tracker service and `xf deadlines`
both go through here.
"""

from __future__ import annotations

from services.tracker.calendar import CALENDAR_FALLBACK, FallbackYear, WorkCalendar
from services.tracker.clock import (
    STATUSES,
    WINDOW_STAGES,
    Clock,
    ClockError,
    DueDate,
    Extension,
    Pause,
    Status,
    due_for,
    end_of_day,
)
from services.tracker.policy import (
    STAGES,
    DeadlinePolicies,
    DeadlinePolicy,
    Escalation,
    PolicyError,
    Stage,
    StagePolicy,
    load_policies,
    parse_policies,
)
from services.tracker.timeline import (
    ClockBook,
    StageStatus,
    Timeline,
    TimelineError,
    TimelineEvent,
    evaluate_timeline,
    open_case,
    policy_for,
    step,
    timeline_json,
)

__all__ = [
    "CALENDAR_FALLBACK",
    "STAGES",
    "STATUSES",
    "WINDOW_STAGES",
    "Clock",
    "ClockBook",
    "ClockError",
    "DeadlinePolicies",
    "DeadlinePolicy",
    "DueDate",
    "Escalation",
    "Extension",
    "FallbackYear",
    "Pause",
    "PolicyError",
    "Stage",
    "StagePolicy",
    "StageStatus",
    "Status",
    "Timeline",
    "TimelineError",
    "TimelineEvent",
    "WorkCalendar",
    "due_for",
    "end_of_day",
    "evaluate_timeline",
    "load_policies",
    "open_case",
    "parse_policies",
    "policy_for",
    "step",
    "timeline_json",
]
