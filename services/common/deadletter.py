"""The one way a consumer turns what it could not process into a `case.deadletter` event.

The event id is derived from the consumer and the record's position (or, where the consumer knows it,
the refused event's own id), so a redelivered record yields the same dead letter, not a second one.
The reason is logged; the payload never is.
"""

from __future__ import annotations

import logging

from services.common.envelope import Envelope, deterministic_id, wrap
from services.common.schemas import DeadLetter

log = logging.getLogger("xf.deadletter")

MAX_PAYLOAD = 65_536
MAX_REASON = 2000


def dead_letter_event(
    *,
    consumer: str,
    topic: str,
    partition: int | None,
    offset: int | None,
    reason: str,
    payload: bytes | str,
    case_id: str = "unknown",
    key: str | None = None,
) -> Envelope[DeadLetter]:
    """`payload` is the record's value, or what a consumer may show instead (intake: a pointer only)."""
    text = payload if isinstance(payload, str) else payload[:MAX_PAYLOAD].decode("utf-8", errors="replace")
    letter = DeadLetter(
        topic=topic,
        partition=partition,
        offset=offset,
        consumer=consumer,
        reason=reason[:MAX_REASON],
        payload=text[:MAX_PAYLOAD],
    )
    log.warning("dead letter from %s[%s]@%s (%s): %s", topic, partition, offset, consumer, letter.reason)
    event_id = (
        deterministic_id("case.deadletter", consumer, key)
        if key is not None
        else deterministic_id("case.deadletter", consumer, topic, str(partition), str(offset))
    )
    return wrap(letter, type="case.deadletter", source=f"xinfang/{consumer}", case_id=case_id, event_id=event_id)
