"""The tracker's Prometheus metrics (DOMAIN.md §7). Bounded labels: no case ids, no units below county."""

from prometheus_client import Counter, Gauge, Histogram

CASES_RECEIVED = Counter("xf_tracker_cases_received_total", "Cases received (batches), by channel", ["channel"])
PERSON_TIMES = Counter("xf_tracker_person_times_total", "Person-times received, by channel", ["channel"])
ROUTED = Counter(
    "xf_tracker_cases_routed_total", "Routing decisions applied, by disposition and level", ["disposition", "level"]
)
EVENTS_APPLIED = Counter("xf_tracker_events_applied_total", "Events applied, by event type", ["type"])
EVENTS_DUPLICATE = Counter("xf_tracker_events_duplicate_total", "Redelivered events skipped, by type", ["type"])
EVENTS_REFUSED = Counter("xf_tracker_events_refused_total", "Events refused, by type and reason", ["type", "reason"])
OPEN_CASES = Gauge("xf_tracker_open_cases", "Open cases by stage and handling level", ["stage", "level"])
RUNNING_CLOCKS = Gauge("xf_tracker_running_clocks", "Running deadline clocks by stage", ["stage"])
TIME_TO_ROUTE = Histogram(
    "xf_tracker_time_to_route_seconds",
    "From receipt to routing decision",
    buckets=(0.1, 0.5, 1, 5, 30, 60, 300, 3600, 86400, 7 * 86400, 15 * 86400),
)
