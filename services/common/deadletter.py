"""The one way a consumer turns what it could not process into a `case.deadletter` event, and sends it.

The event id is derived from the consumer and the record's position (or, where the consumer knows it,
the refused event's own id), so a redelivered record yields the same dead letter, not a second one.
The reason is logged; the payload never is.

Dead-lettering cannot fail: a full letter that cannot be built falls back to a minimal one (topic,
partition, offset, consumer, reason; the same id), and `send_dead_letter` publishes the minimal one when
Kafka does not take the full one, a bounded number of times, then logs, counts and gives up, so that the
consumer moves on instead of retrying one record forever.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from prometheus_client import Counter

from services.common.envelope import Envelope, deterministic_id, now, wrap
from services.common.schemas import DeadLetter

log = logging.getLogger("xf.deadletter")

MAX_PAYLOAD = 65_536
MAX_REASON = 2000
MINIMAL_REASON = 500
SEND_ATTEMPTS = 3
SEND_PAUSE_S = 0.5

FALLBACKS = Counter(
    "xf_deadletter_fallbacks_total",
    "Dead letters sent minimal (outcome=minimal) or not at all after bounded attempts (outcome=lost)",
    ["consumer", "outcome"],
)


def dead_letter_id(consumer: str, topic: str, partition: int | None, offset: int | None, key: str | None) -> str:
    if key is not None:
        return deterministic_id("case.deadletter", consumer, key)
    return deterministic_id("case.deadletter", consumer, topic, str(partition), str(offset))


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
    """`payload` is the record's value, or what a consumer may show instead (intake: a pointer only).
    Never raises: what cannot be built in full is built minimal."""
    event_id = dead_letter_id(consumer, topic, partition, offset, key)
    try:
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
        return wrap(letter, type="case.deadletter", source=f"xinfang/{consumer}", case_id=case_id, event_id=event_id)
    except Exception as error:
        log.warning("dead letter from %s[%s]@%s (%s) built minimal: %r", topic, partition, offset, consumer, error)
        FALLBACKS.labels(consumer, "minimal").inc()
        return minimal_dead_letter(
            consumer=consumer, topic=topic, partition=partition, offset=offset, reason=reason, event_id=event_id
        )


def minimal_dead_letter(
    *, consumer: str, topic: str, partition: int | None, offset: int | None, reason: str, event_id: str
) -> Envelope[DeadLetter]:
    """Where the record was, who refused it and why (cut, ASCII): nothing that could fail to build or send."""
    safe_reason = str(reason)[:MINIMAL_REASON].encode("ascii", "replace").decode("ascii")
    letter = DeadLetter.model_construct(
        topic=str(topic)[:200],
        partition=partition if isinstance(partition, int) else None,
        offset=offset if isinstance(offset, int) else None,
        consumer=str(consumer)[:100],
        reason=safe_reason,
        payload="",
    )
    return Envelope[DeadLetter].model_construct(
        specversion="1.0",
        id=event_id,
        type="case.deadletter",
        source=f"xinfang/{str(consumer)[:100]}",
        time=now(),
        caseid="unknown",
        schemaversion=1,
        datacontenttype="application/json",
        data=letter,
    )


def minimal_of(letter: Envelope[DeadLetter]) -> Envelope[DeadLetter]:
    data = letter.data
    return minimal_dead_letter(
        consumer=data.consumer,
        topic=data.topic,
        partition=data.partition,
        offset=data.offset,
        reason=data.reason,
        event_id=letter.id,
    )


async def send_dead_letter(
    publish: Callable[[Envelope[DeadLetter]], Awaitable[Any]],
    letter: Envelope[DeadLetter],
    *,
    attempts: int = SEND_ATTEMPTS,
    pause_s: float = SEND_PAUSE_S,
) -> bool:
    """Publish `letter`; when that fails, its minimal form (same id) up to `attempts` times, pausing in
    between. False (logged and counted, never raised) when even that failed: the consumer moves on."""
    try:
        await publish(letter)
        return True
    except Exception as error:
        log.warning("dead letter %s not taken (%r); sending it minimal", letter.id, error)
    minimal = minimal_of(letter)
    consumer = minimal.data.consumer
    last: Exception | None = None
    for attempt in range(1, max(attempts, 1) + 1):
        try:
            await publish(minimal)
            FALLBACKS.labels(consumer, "minimal").inc()
            return True
        except Exception as error:
            last = error
            if attempt < attempts:
                await asyncio.sleep(pause_s * attempt)
    FALLBACKS.labels(consumer, "lost").inc()
    data = minimal.data
    log.error(
        "dead letter %s from %s[%s]@%s (%s) could not be sent after %d attempts (%r); moving on: %s",
        minimal.id,
        data.topic,
        data.partition,
        data.offset,
        consumer,
        attempts,
        last,
        data.reason,
    )
    return False
