"""The metric names the services declare (whether or not a sample exists yet)."""

from __future__ import annotations

import importlib

from faststream.prometheus.container import MetricsContainer
from prometheus_client import REGISTRY, CollectorRegistry

# Every module that declares metrics on the default registry.
METRIC_MODULES = (
    "services.intake.metrics",
    "services.intake.outbox",
    "services.intake.outbox_retention",
    "services.router.metrics",
    "services.tracker.metrics",
    "services.tracker.calendar",
    "services.common.progress",
    "services.common.deadletter",
)
_SUFFIXES = {
    "counter": ("_total", "_created"),
    "histogram": ("_bucket", "_count", "_sum", "_created"),
    "summary": ("_count", "_sum", "_created"),
    "gauge": ("",),
    "info": ("_info",),
}


def _names(registry: CollectorRegistry) -> set[str]:
    names: set[str] = set()
    for metric in registry.collect():
        names.update(metric.name + suffix for suffix in _SUFFIXES.get(metric.type, ("",)))
    return names


def declared() -> set[str]:
    """Sample names the services can expose, plus `up`."""
    for module in METRIC_MODULES:
        importlib.import_module(module)
    faststream = CollectorRegistry()
    MetricsContainer(faststream, metrics_prefix="faststream", custom_label_names=[])
    return _names(REGISTRY) | _names(faststream) | {"up"}
