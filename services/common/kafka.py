"""Broker construction and publishing conventions shared by the services.

Producers are idempotent with acks=all (aiokafka's defaults are neither). Consumers decode
bodies themselves: a message that is not valid JSON must reach our own code, which sends it to
the dead-letter topic, instead of failing inside the framework and being redelivered forever.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any

from aiokafka import AIOKafkaProducer
from faststream.kafka import KafkaBroker
from faststream.kafka.message import KafkaMessage

from services.common.envelope import Envelope, to_bytes
from services.common.settings import Settings
from services.common.signing import Signer

JSON_HEADERS = {"content-type": "application/json"}


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


def record_headers(envelope: Envelope[Any], body: bytes, signer: Signer | None = None) -> dict[str, str]:
    """The headers of an event's record; with `signer`, signed (services.common.signing)."""
    headers = {**JSON_HEADERS, "ce-type": envelope.type, "ce-id": envelope.id}
    if signer is not None:
        headers.update(signer.headers(envelope.id, body))
    return headers


def raw_headers(envelope: Envelope[Any], body: bytes, signer: Signer | None = None) -> list[tuple[str, bytes]]:
    """`record_headers` as a plain aiokafka producer takes them."""
    return [(name, value.encode()) for name, value in record_headers(envelope, body, signer).items()]


async def publish(broker: KafkaBroker, topic: str, envelope: Envelope[Any], signer: Signer | None = None) -> None:
    body = to_bytes(envelope)
    headers = record_headers(envelope, body, signer)
    await broker.publish(body, topic=topic, key=envelope.caseid.encode(), headers=headers)


def make_producer(settings: Settings, client_id: str, **kwargs: Any) -> AIOKafkaProducer:
    """A plain idempotent producer (acks=all) for many records at once, cheaper per record than the
    broker's `publish` (see `send_all`)."""
    return AIOKafkaProducer(
        **client_options(settings), client_id=client_id, enable_idempotence=True, acks="all", **kwargs
    )


async def send_all(producer: AIOKafkaProducer, items: Sequence[tuple[str, Envelope[Any], Signer | None]]) -> None:
    """Queue every (topic, event, signer) record, then return once Kafka has all of them, or raise."""
    futures = []
    for topic, envelope, signer in items:
        body = to_bytes(envelope)
        headers = raw_headers(envelope, body, signer)
        futures.append(await producer.send(topic, body, key=envelope.caseid.encode(), headers=headers))
    await asyncio.gather(*futures)
