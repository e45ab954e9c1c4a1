"""From a client's raw case bodies to one result per case: role, validation, scope, acceptance.

The HTTP handlers (single case and batch) are thin wrappers around `submit_items`; the Kafka
consumer does the same steps in kafka_in.py, because its refusals go to the dead-letter topic.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from services.access.scopes import Client
from services.common.field_errors import FieldError, SubmissionInvalid, field_error
from services.intake import metrics
from services.intake.accept import Conflict, Outcome, Request
from services.intake.api_models import ItemStatus
from services.intake.auth import role_error, submission_refusals
from services.intake.metrics import Via
from services.intake.submission import Submission
from services.intake.validation import validate_submission

Submit = Callable[[Sequence[Request]], Awaitable[list[Outcome]]]
# A body's bytes, or the decoded JSON value of a batch item (anything but an object is refused).
RawCase = bytes | Mapping[str, Any] | Any


@dataclass(frozen=True)
class ItemResult:
    status: ItemStatus
    case_id: str | None = None
    errors: tuple[FieldError, ...] = ()


def check(client: Client, raw: RawCase) -> Submission | ItemResult:
    """The submission this client may make, or why not (invalid: 422, forbidden: 403)."""
    if not client.may("submit"):
        return ItemResult("forbidden", errors=(role_error(client, "submit"),))
    if not isinstance(raw, bytes | Mapping):
        return ItemResult("invalid", errors=(field_error("", "json_type"),))
    try:
        submission = validate_submission(raw)
    except SubmissionInvalid as invalid:
        return ItemResult("invalid", errors=tuple(invalid.errors))
    refusals = submission_refusals(client, submission)
    if refusals:
        return ItemResult("forbidden", errors=tuple(refusals))
    return submission


def result_of(outcome: Outcome, *, key_field: str) -> ItemResult:
    if isinstance(outcome, Conflict):
        error = field_error(key_field, "idempotency_conflict", case_id=outcome.case_id)
        return ItemResult("conflict", outcome.case_id, (error,))
    return ItemResult("accepted" if outcome.created else "already_accepted", outcome.case_id)


async def submit_items(
    client: Client,
    items: Sequence[tuple[RawCase, str | None]],
    submit: Submit,
    *,
    via: Via,
    key_field: str,
) -> list[ItemResult]:
    """`items` are (raw case, idempotency key); every accepted one is stored in one transaction."""
    checked = [check(client, raw) for raw, _ in items]
    requests = [
        Request(submission, client.name, key)
        for submission, (_, key) in zip(checked, items, strict=True)
        if isinstance(submission, Submission)
    ]
    outcomes = iter(await submit(requests) if requests else [])
    results: list[ItemResult] = []
    for item in checked:
        if isinstance(item, Submission):
            results.append(result_of(next(outcomes), key_field=key_field))
        else:
            metrics.SUBMISSIONS.labels(via, item.status).inc()
            metrics.count_failures(item.errors)
            results.append(item)
    return results
