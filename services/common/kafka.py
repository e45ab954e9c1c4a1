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

from services.common.bounded import Limits
from services.common.envelope import Envelope, to_bytes
from services.common.settings import Settings

JSON_HEADERS = {"content-type": "application/json"}
# What a consumer reads of one record before it parses it (services.common.bounded): the largest event is a
# case.submitted with 50,000 characters of content (≈150 kB); Kafka itself takes records up to ≈1 MB.
RECORD_LIMITS = Limits(max_bytes=512 * 1024, max_depth=32)


def client_options(settings: Settings) -> dict[str, Any]:
    """The keyword arguments every aiokafka client (producer, consumer, admin) of this process takes:
    the bootstrap address and, once the stack runs SASL, the security settings of this process's principal.
    Every Kafka client in the project is built from these, never from `bootstrap_servers` alone."""
    return {"bootstrap_servers": settings.bootstrap_servers}


def make_broker(settings: Settings, client_id: str, **kwargs: Any) -> KafkaBroker:
    options = client_options(settings)
    return KafkaBroker(
        options.pop("bootstrap_servers"),
        **options,
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
