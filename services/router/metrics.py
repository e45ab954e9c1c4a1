"""The router's Prometheus metrics. Labels are bounded: no case ids, no units, no regions."""

from bisect import bisect_right
from collections.abc import Sequence

from prometheus_client import Counter, Gauge, Histogram, Info

DECISIONS = Counter(
    "xf_router_decisions_total",
    "Routing decisions by disposition, handling level and urgency",
    ["disposition", "level", "urgency"],
)
RULE_HITS = Counter("xf_router_rule_hits_total", "Rules that fired, by rule id", ["rule"])
GAPS = Counter(
    "xf_router_directory_gaps_total",
    "Cases left with the receiving unit because the directory has no competent unit (首问负责)",
    ["department"],
)
DECISION_SECONDS = Histogram(
    "xf_router_decision_seconds",
    "Rule evaluation time per case: a consumed batch's evaluation time over its cases, one observation per batch",
    buckets=(0.000005, 0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.01),
)
LATENCY_SECONDS = Histogram(
    "xf_router_latency_seconds",
    "From the case.received record's timestamp to its case.routed event acknowledged by Kafka, per case",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
BATCH_SIZE = Histogram(
    "xf_router_batch_cases",
    "Records per consumed batch",
    buckets=(1, 10, 50, 100, 250, 500, 1000, 2000),
)
LAG_RECORDS = Gauge(
    "xf_router_consumer_lag_records",
    "Records of case.received not yet consumed, per partition, as of the last batch",
    ["partition"],
)
ENGINE_EVALUATIONS = Counter(
    "xf_router_engine_evaluations_total",
    "Fact sets the rule engine evaluated: one per table and fact pattern new since the last reload",
)
PUBLISH_RETRIES = Counter(
    "xf_router_publish_retries_total",
    "Batches published again because Kafka did not acknowledge their events (offsets wait meanwhile)",
)
RULESET = Info("xf_router_ruleset", "The ruleset version in force")
RULESET_LOADED_AT = Gauge("xf_router_ruleset_loaded_timestamp_seconds", "When the ruleset in force was loaded")
RELOADS = Counter("xf_router_rule_reloads_total", "Rule reload attempts by outcome", ["outcome"])
DEAD_LETTERS = Counter(
    "xf_router_dead_letters_total",
    "Records sent to the dead-letter topic, by reason (not_json, invalid, wrong_type, undecidable, engine)",
    ["reason"],
)
# Series that exist from the start, so that increase() also sees the first reload or dead letter.
for _outcome in ("applied", "refused", "unchanged"):
    RELOADS.labels(_outcome)
for _reason in ("not_json", "invalid", "wrong_type", "undecidable", "engine"):
    DEAD_LETTERS.labels(_reason)


def observe_many(histogram: Histogram, amounts: Sequence[float]) -> None:
    """`histogram.observe(a) for a in amounts`, with one update per bucket instead of one per amount.

    Same buckets as observe() (an amount goes to the first bucket whose bound is >= it); the sum is
    added once. For a histogram without labels and without exemplars (the router's per-case latency).
    """
    if not amounts:
        return
    ordered = sorted(amounts)
    below = 0
    for bound, bucket in zip(histogram._upper_bounds, histogram._buckets, strict=True):
        upto = bisect_right(ordered, bound, lo=below)  # amounts <= bound
        if upto > below:
            bucket.inc(upto - below)
            below = upto
    histogram._sum.inc(sum(amounts))
