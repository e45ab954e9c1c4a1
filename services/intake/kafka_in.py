"""Reading what arrives on Kafka: `case.submitted` from upstream systems. Pure: bytes in, a typed value
or a refusal out.

`case.submitted` is the HTTP body in a CloudEvents-style envelope: `id` (the idempotency key),
`source` (one of the sources the client registered), `type` = `case.submitted`, `data` (the
submission). The client is the one whose signature the record carries (services.intake.partners),
never a name inside the record. A refusal never quotes the event: it may be full of personal data.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

from services.access.scopes import Client
from services.common.bounded import Refused as Unbounded
from services.common.bounded import load_json
from services.common.deadletter import dead_letter_event
from services.common.envelope import Envelope
from services.common.field_errors import FieldError, SubmissionInvalid, field_error
from services.common.kafka import RECORD_LIMITS
from services.common.schemas import DeadLetter
from services.intake.auth import source_matches, submission_refusals
from services.intake.submission import Submission
from services.intake.validation import validate_submission

SUBMITTED_TYPE = "case.submitted"
RefusalReason = Literal[
    "envelope",
    "invalid",
    "unknown_source",
    "forbidden",
    "conflict",
    "unsigned",
    "bad_signature",
    "unknown_partner",
    "stale_signature",
    "internal",
]
MAX_ID = 200


@dataclass(frozen=True)
class Submitted:
    event_id: str
    source: str
    client: Client
    submission: Submission


@dataclass(frozen=True)
class Refused:
    reason: RefusalReason
    errors: tuple[FieldError, ...]
    event_id: str | None = None
    source: str | None = None

    def describe(self) -> str:
        return "; ".join(f"{e.field or '(envelope)'}: {e.code}: {e.message_en}" for e in self.errors)


def read_submitted(value: bytes | None, client: Client) -> Submitted | Refused:
    """The submission in a record `client` signed (its signature was verified), or why it is refused."""
    try:
        envelope = load_json(value or b"", RECORD_LIMITS)
    except Unbounded as refused:
        return Refused("envelope", (field_error("", "record_refused", reason=refused.code),))
    if not isinstance(envelope, dict):
        return Refused("envelope", (field_error("", "envelope_invalid"),))
    event_id, source = _text(envelope, "id"), _text(envelope, "source")
    data, kind = envelope.get("data"), envelope.get("type", SUBMITTED_TYPE)
    if event_id is None or source is None or not isinstance(data, dict) or kind != SUBMITTED_TYPE:
        return Refused("envelope", (field_error("", "envelope_invalid"),), event_id, source)
    if not any(source_matches(pattern, source) for pattern in client.sources):
        return Refused("unknown_source", (field_error("source", "source_unknown"),), event_id, source)
    try:
        submission = validate_submission(data)
    except SubmissionInvalid as invalid:
        return Refused("invalid", tuple(invalid.errors), event_id, source)
    refusals = submission_refusals(client, submission)
    if refusals:
        return Refused("forbidden", tuple(refusals), event_id, source)
    return Submitted(event_id, source, client, submission)


def _text(envelope: dict[str, Any], name: str) -> str | None:
    value = envelope.get(name)
    return value if isinstance(value, str) and 0 < len(value) <= MAX_ID else None


def dead_letter_for(
    refused: Refused, *, topic: str, partition: int, offset: int, consumer: str
) -> Envelope[DeadLetter]:
    """The dead letter names the event (position, id, source) and the reason, never its content."""
    pointer = {"event_id": refused.event_id, "source": refused.source, "reason": refused.reason}
    return dead_letter_event(
        consumer=consumer,
        topic=topic,
        partition=partition,
        offset=offset,
        reason=refused.describe(),
        payload=json.dumps(pointer, ensure_ascii=False),
    )
