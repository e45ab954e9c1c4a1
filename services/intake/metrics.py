"""Intake's Prometheus metrics. Every label takes values from a fixed set, never from client input:
a field name the submission made up, or a category nobody defined, is counted as `other`.
(Outbox metrics live in outbox.py and outbox_retention.py.)"""

from __future__ import annotations

import types
import typing
from collections.abc import Iterable
from functools import lru_cache
from typing import Literal

from prometheus_client import Counter, Histogram
from pydantic import BaseModel

from services.common.field_errors import MESSAGES, FieldError
from services.intake.submission import Submission

Via = Literal["http", "http_batch", "kafka"]
OTHER = "other"
# Fields that are not part of a submission body but are named in errors.
_EXTRA_FIELDS = frozenset(
    {"", "X-API-Key", "Idempotency-Key", "cases", "idempotency_key", "case", "source", "id"}
    | {"case_id", "unit_id", "subtree", "status", "limit", "cursor"}
)

SUBMISSIONS = Counter(
    "xf_intake_submissions_total", "Submissions (one case each), by path and outcome", ["via", "outcome"]
)
CASES_RECEIVED = Counter(
    "xf_intake_cases_received_total",
    "New cases stored and queued for case.received, by channel and category",
    ["channel", "category", "via"],
)
VALIDATION_FAILURES = Counter(
    "xf_intake_validation_failures_total", "Refused fields, by field path and error code", ["field", "code"]
)
AUTH_FAILURES = Counter(
    "xf_intake_auth_failures_total", "Requests refused for their API key (missing or invalid)", ["reason"]
)
DEAD_LETTERS = Counter(
    "xf_intake_dead_letters_total", "case.submitted events sent to the dead-letter topic, by reason", ["reason"]
)
CONSUMED_BATCH = Histogram(
    "xf_intake_consumed_batch_size",
    "Records per consumed Kafka batch, by topic group",
    ["group"],
    buckets=(1, 5, 20, 50, 100, 200, 500),
)
OUTCOMES_APPLIED = Counter(
    "xf_intake_outcomes_applied_total",
    "case.status events applied to intake's cases, by the type of the event that caused them",
    ["type"],
)
OUTCOMES_SKIPPED = Counter(
    "xf_intake_outcomes_skipped_total",
    "case.status events not applied (malformed, older than what intake has, not its case), by topic and reason",
    ["topic", "reason"],
)


def _models_in(annotation: object) -> Iterable[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        yield annotation
        return
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        yield from _models_in(typing.get_args(annotation)[0])
    elif origin in (typing.Union, types.UnionType):
        for arg in typing.get_args(annotation):
            yield from _models_in(arg)


def _paths(model: type[BaseModel], prefix: str = "") -> set[str]:
    found: set[str] = set()
    for name, info in model.model_fields.items():
        path = prefix + name
        found.add(path)
        for nested in _models_in(info.annotation):
            found |= _paths(nested, path + ".")
    return found


@lru_cache(maxsize=1)
def known_fields() -> frozenset[str]:
    return frozenset(_paths(Submission)) | _EXTRA_FIELDS


def field_label(field: str) -> str:
    if not field:  # the body or the envelope as a whole (Prometheus drops a label whose value is empty)
        return "(body)"
    # Batch wrapper errors: "cases.3.idempotency_key" counts as "cases.idempotency_key" would, by its last part.
    if field.startswith("cases."):
        field = field.rsplit(".", 1)[-1]
    return field if field in known_fields() else OTHER


def code_label(code: str) -> str:
    return code if code in MESSAGES else OTHER


def count_failures(errors: Iterable[FieldError]) -> None:
    for error in errors:
        VALIDATION_FAILURES.labels(field_label(error.field), code_label(error.code)).inc()
