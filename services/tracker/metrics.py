"""The tracker's Prometheus metrics (docs/domain.md §9).

Bounded labels only: channel, disposition, level (village … national), stage, alert kind, refusal
kind, outcome, and `unit` only on the open-cases-by-unit gauge where units below county are counted
under their county (`150627107:gov` → `150627:gov`). Never a case id, a person, or a free text.
Counters move after the database transaction commits; gauges are read from the database.
The SQL views (migrations/003_views.sql) give the exact period statistics; these are for watching.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from prometheus_client import Counter, Gauge, Histogram, Info

from services.common.schemas import FLAGS

if TYPE_CHECKING:
    from services.tracker.engine import Applied

_DAY = 86400.0
_DURATION_BUCKETS = (
    60.0,
    3600.0,
    6 * 3600.0,
    _DAY,
    3 * _DAY,
    7 * _DAY,
    15 * _DAY,
    30 * _DAY,
    60 * _DAY,
    90 * _DAY,
    180 * _DAY,
)

# --- volume -------------------------------------------------------------------------------------------
CASES_RECEIVED = Counter("xf_tracker_cases_received_total", "Cases received (batches), by channel", ["channel"])
PERSON_TIMES = Counter("xf_tracker_person_times_total", "Person-times received, by channel", ["channel"])
ROUTED = Counter(
    "xf_tracker_cases_routed_total", "Routing decisions applied, by disposition and level", ["disposition", "level"]
)
CASES_FLAGGED = Counter(
    "xf_tracker_cases_flagged_total", "Routed cases (batches) by flag of the decision (docs/domain.md §5.2)", ["flag"]
)
# Every flag's series exists from the start, so increase() sees the first flagged case too.
for _flag in FLAGS:
    CASES_FLAGGED.labels(_flag)

# --- events -------------------------------------------------------------------------------------------
EVENTS_APPLIED = Counter("xf_tracker_events_applied_total", "Events applied, by event type", ["type"])
EVENTS_DUPLICATE = Counter("xf_tracker_events_duplicate_total", "Events handled before and skipped, by type", ["type"])
EVENTS_HELD = Counter(
    "xf_tracker_events_held_total", "Events parked until the event they depend on arrives", ["type", "reason"]
)
EVENTS_REFUSED = Counter(
    "xf_tracker_events_refused_total",
    "Events refused (and dead-lettered), by type and refusal kind",
    ["type", "reason"],
)

BATCH_EVENTS = Histogram(
    "xf_tracker_batch_events", "Records per consumed batch", buckets=(1, 2, 5, 10, 20, 50, 100, 200, 500, 1000)
)
BATCH_SECONDS = Histogram(
    "xf_tracker_batch_seconds",
    "One consumed batch: its database transaction and the messages it publishes",
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10),
)

# --- lifecycle ----------------------------------------------------------------------------------------
STAGE_COMPLETIONS = Counter(
    "xf_tracker_stage_completions_total",
    "Stage clocks completed, by stage and timeliness (met, late)",
    ["stage", "timeliness"],
)
CLOSURES = Counter(
    "xf_tracker_closures_total",
    "Handling closures (处理意见 delivered), on time or late (a late one clears a backlog case)",
    ["level", "timeliness"],
)
CASES_CLOSED = Counter("xf_tracker_cases_closed_total", "Cases that ended, by how and level", ["outcome", "level"])
EXTENSIONS = Counter("xf_tracker_extensions_total", "Extensions granted, by stage and level", ["stage", "level"])
EXTENSION_DAYS = Counter("xf_tracker_extension_days_total", "Days added by extensions, by stage", ["stage"])
PAUSES = Counter("xf_tracker_pauses_total", "Clock pauses, by stage and reason", ["stage", "reason"])
TIME_TO_ROUTE = Histogram(
    "xf_tracker_time_to_route_seconds",
    "From receipt to the routing decision",
    buckets=(0.1, 0.5, 1, 5, 30, *_DURATION_BUCKETS),
)
TIME_TO_ACCEPT = Histogram(
    "xf_tracker_time_to_accept_seconds", "From receipt to acceptance (受理)", buckets=_DURATION_BUCKETS
)
TIME_TO_REPLY = Histogram(
    "xf_tracker_time_to_reply_seconds", "From receipt to the reply (处理意见)", buckets=_DURATION_BUCKETS
)

# --- alerts and the scanner ---------------------------------------------------------------------------
ALERTS = Counter("xf_tracker_alerts_total", "Alerts raised, by kind and stage", ["kind", "stage"])
WINDOW_LAPSES = Counter(
    "xf_tracker_window_lapses_total", "Petitioner windows that lapsed and concluded the case", ["stage"]
)
SCAN_SECONDS = Histogram(
    "xf_tracker_scan_seconds",
    "One scanner round (claim, publish, record)",
    buckets=(0.001, 0.005, 0.02, 0.1, 0.5, 2, 10),
)
SCAN_CLOCKS = Counter("xf_tracker_scan_clocks_total", "Clocks the scanner claimed")

# --- rule files (services.tracker.reload) --------------------------------------------------------------
RULE_RELOADS = Counter(
    "xf_tracker_rule_reloads_total",
    "Reloads of the rule files the tracker reads (deadlines, directory) by outcome (applied, unchanged, refused)",
    ["file", "outcome"],
)
# Series that exist from the start, so that increase() also sees the first refusal.
for _file in ("deadlines", "directory"):
    for _outcome in ("applied", "unchanged", "refused"):
        RULE_RELOADS.labels(_file, _outcome)
DEADLINE_POLICIES = Info("xf_tracker_deadline_policies", "The version of rules/deadlines.yaml new clocks start under")

# --- read from the database ---------------------------------------------------------------------------
OPEN_CASES = Gauge("xf_tracker_open_cases", "Open cases by stage and handling level", ["stage", "level"])
OPEN_CASES_BY_UNIT = Gauge(
    "xf_tracker_open_cases_by_unit",
    "Open cases by handling unit (units below county counted under their county)",
    ["unit"],
)
RUNNING_CLOCKS = Gauge("xf_tracker_running_clocks", "Running deadline clocks by stage", ["stage"])
DUE_SOON = Gauge(
    "xf_tracker_due_soon", "Running clocks inside their warning lead, by stage and level", ["stage", "level"]
)
OVERDUE = Gauge("xf_tracker_overdue", "Running clocks past their deadline, by stage and level", ["stage", "level"])
BACKLOG = Gauge(
    "xf_tracker_backlog_cases", "Backlog (积案): open cases past their handling deadline, by level", ["level"]
)
PAUSED = Gauge("xf_tracker_paused_clocks", "Paused clocks by stage", ["stage"])
PARKED = Gauge("xf_tracker_parked_events", "Events parked, waiting for the event they depend on")
CONSUMER_LAG = Gauge("xf_tracker_consumer_lag", "Records not yet consumed by the tracker group, by topic", ["topic"])


def _level(row: Mapping[str, Any]) -> str:
    return str(row.get("handling_level") or "none")


def observe_applied(
    event_type: str, row: Mapping[str, Any], before: Mapping[str, Any] | None, applied: Applied
) -> None:
    """Count one applied event. `row` is the case after it, `before` the case before it (None if new)."""
    EVENTS_APPLIED.labels(event_type).inc()
    received_at = row["received_at"]
    if event_type == "received":
        CASES_RECEIVED.labels(row["channel"]).inc()
        PERSON_TIMES.labels(row["channel"]).inc(row["people_count"])
    elif event_type == "routed":
        ROUTED.labels(row.get("disposition") or "none", _level(row)).inc()
        for flag in row.get("flags") or ():
            if flag in FLAGS:
                CASES_FLAGGED.labels(flag).inc()
        TIME_TO_ROUTE.observe(max((row["routed_at"] - received_at).total_seconds(), 0.0))
    elif event_type == "accepted" and row.get("accepted_at"):
        TIME_TO_ACCEPT.observe(max((row["accepted_at"] - received_at).total_seconds(), 0.0))
    elif event_type == "replied" and row.get("replied_at"):
        TIME_TO_REPLY.observe(max((row["replied_at"] - received_at).total_seconds(), 0.0))
    for write in applied.clocks:
        if write.completed_at is None or write.outcome not in ("met", "late"):
            continue
        STAGE_COMPLETIONS.labels(write.stage, write.outcome).inc()
        if write.stage == "handle" and event_type == "replied":
            CLOSURES.labels(_level(row), "on_time" if write.outcome == "met" else "late").inc()
    if event_type == "extended":
        for write in applied.clocks:
            if write.extensions:
                EXTENSIONS.labels(write.stage, _level(row)).inc()
                EXTENSION_DAYS.labels(write.stage).inc(write.extensions[-1]["days"])
    elif event_type == "paused":
        for write in applied.clocks:
            if write.paused_since is not None:
                PAUSES.labels(write.stage, write.pauses[-1]["reason"]).inc()
    if row.get("closed") and not (before or {}).get("closed"):
        CASES_CLOSED.labels(str(row.get("outcome") or "closed"), _level(row)).inc()
