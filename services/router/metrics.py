"""The router's Prometheus metrics. Labels are bounded: no case ids, no units."""

from prometheus_client import Counter, Gauge, Histogram, Info

DECISIONS = Counter(
    "xf_router_decisions_total",
    "Routing decisions by disposition, handling level and urgency",
    ["disposition", "level", "urgency"],
)
RULE_HITS = Counter("xf_router_rule_hits_total", "Rules that fired, by rule id", ["rule"])
DECISION_SECONDS = Histogram(
    "xf_router_decision_seconds",
    "Time to decide one case (rule evaluation only)",
    buckets=(0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1),
)
RULESET = Info("xf_router_ruleset", "The ruleset version in force")
RULESET_LOADED_AT = Gauge("xf_router_ruleset_loaded_timestamp_seconds", "When the ruleset in force was loaded")
RELOADS = Counter("xf_router_rule_reloads_total", "Rule reload attempts by outcome", ["outcome"])
DEAD_LETTERS = Counter("xf_router_dead_letters_total", "Cases sent to the dead-letter topic", ["reason"])
