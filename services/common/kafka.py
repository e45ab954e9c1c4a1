"""Broker construction and publishing conventions shared by the services.

Producers are idempotent with acks=all (aiokafka's defaults are neither). Consumers decode
bodies themselves: a message that is not valid JSON must reach our own code, which sends it to
the dead-letter topic, instead of failing inside the framework and being redelivered forever.
"""

from __future__ import annotations

import logging
from typing import Any

from faststream.kafka import KafkaBroker
from faststream.kafka.message import KafkaMessage

from services.common.envelope import Envelope, to_bytes, wrap
from services.common.schemas import DeadLetter
from services.common.settings import Settings
from services.common.topics import DEADLETTER

log = logging.getLogger(__name__)

JSON_HEADERS = {"content-type": "application/json"}
MAX_DEADLETTER_PAYLOAD = 65_536


def make_broker(settings: Settings, client_id: str, **kwargs: Any) -> KafkaBroker:
    return KafkaBroker(
        settings.bootstrap_servers,
        client_id=client_id,
        enable_idempotence=True,
        acks="all",
        logger=logging.getLogger(f"xf.{client_id}.kafka"),
        **kwargs,
    )


async def raw_body(message: KafkaMessage) -> bytes:
    """Subscriber decoder: hand the handler the undecoded bytes."""
    body: bytes = message.body
    return body


async def publish(broker: KafkaBroker, topic: str, envelope: Envelope[Any]) -> None:
    await broker.publish(
        to_bytes(envelope),
        topic=topic,
        key=envelope.caseid.encode(),
        headers={**JSON_HEADERS, "ce-type": envelope.type, "ce-id": envelope.id},
    )


async def dead_letter(
    broker: KafkaBroker,
    *,
    consumer: str,
    reason: str,
    message: KafkaMessage | None = None,
    topic: str = "",
    payload: bytes | None = None,
    case_id: str = "unknown",
) -> None:
    """Publish what could not be processed, with the reason, and log the reason (never the payload)."""
    raw = message.raw_message if message is not None else None
    source_topic = getattr(raw, "topic", topic) if raw is not None else topic
    body = payload if payload is not None else (message.body if message is not None else b"")
    letter = DeadLetter(
        topic=source_topic,
        partition=getattr(raw, "partition", None),
        offset=getattr(raw, "offset", None),
        consumer=consumer,
        reason=reason[:2000],
        payload=body[:MAX_DEADLETTER_PAYLOAD].decode("utf-8", errors="replace")[:MAX_DEADLETTER_PAYLOAD],
    )
    log.warning("dead letter from %s (%s): %s", source_topic, consumer, letter.reason)
    await publish(
        broker,
        DEADLETTER.name,
        wrap(letter, type="case.deadletter", source=f"xinfang/{consumer}", case_id=case_id),
    )
