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
from aiokafka.helpers import create_ssl_context
from faststream.kafka import KafkaBroker
from faststream.kafka.message import KafkaMessage
from faststream.security import BaseSecurity, SASLScram512

from services.common.bounded import Limits
from services.common.envelope import Envelope, to_bytes
from services.common.secret_files import kafka_credentials_path, read_kafka_credentials
from services.common.settings import Settings
from services.common.signing import Signer

JSON_HEADERS = {"content-type": "application/json"}
# The stack's own super user: what a process on the developer's machine uses when it has no principal.
STACK_ADMIN = "admin"
# What a consumer reads of one record before it parses it (services.common.bounded): the largest event is a
# case.submitted with 50,000 characters of content (≈150 kB); Kafka itself takes records up to ≈1 MB.
RECORD_LIMITS = Limits(max_bytes=512 * 1024, max_depth=32)


class MissingKafkaCredentials(RuntimeError):
    """No username and password for a SASL listener: none set, none in the stack directory."""


def credentials(settings: Settings, principal: str | None = None) -> tuple[str, str]:
    """(username, password) of `principal` from the stack directory, else this process's own."""
    if principal is None and settings.kafka_username:
        if settings.kafka_password is None:
            raise MissingKafkaCredentials("XF_KAFKA_USERNAME is set but XF_KAFKA_PASSWORD is not")
        return settings.kafka_username, settings.kafka_password
    name = principal or STACK_ADMIN
    found = read_kafka_credentials(settings.stack_dir, name)
    if found is None:
        raise MissingKafkaCredentials(
            f"no Kafka credentials for {name!r}: set XF_KAFKA_USERNAME and XF_KAFKA_PASSWORD, or start the local "
            f"stack (`xf stack up`), which writes {kafka_credentials_path(settings.stack_dir, name)}"
        )
    return found


def client_options(settings: Settings, principal: str | None = None) -> dict[str, Any]:
    """The keyword arguments every aiokafka client (producer, consumer, admin) of this process takes:
    the bootstrap address and the security settings of this process's principal (XF_KAFKA_USERNAME and
    XF_KAFKA_PASSWORD, else the stack's admin). `principal` picks another principal of the local stack,
    for the tools and tests that play a partner (`dev-upstream`, `dev-unit`) or a service.
    Every Kafka client in the project is built from these, never from `bootstrap_servers` alone."""
    options: dict[str, Any] = {
        "bootstrap_servers": settings.bootstrap_servers,
        "security_protocol": settings.kafka_security_protocol,
    }
    if settings.kafka_security_protocol == "PLAINTEXT":
        return options
    username, password = credentials(settings, principal)
    options |= {
        "sasl_mechanism": settings.kafka_sasl_mechanism,
        "sasl_plain_username": username,
        "sasl_plain_password": password,
    }
    if settings.kafka_security_protocol == "SASL_SSL":
        options["ssl_context"] = create_ssl_context(
            cafile=str(settings.kafka_ssl_cafile) if settings.kafka_ssl_cafile else None
        )
    return options


def broker_security(options: dict[str, Any]) -> BaseSecurity | None:
    """client_options as the security object faststream's KafkaBroker takes instead of the keywords."""
    if options["security_protocol"] == "PLAINTEXT":
        return None
    return SASLScram512(
        options["sasl_plain_username"],
        options["sasl_plain_password"],
        ssl_context=options.get("ssl_context"),
        use_ssl=options["security_protocol"] == "SASL_SSL",
    )


def make_broker(settings: Settings, client_id: str, *, principal: str | None = None, **kwargs: Any) -> KafkaBroker:
    options = client_options(settings, principal)
    return KafkaBroker(
        options["bootstrap_servers"],
        security=broker_security(options),
        client_id=client_id,
        enable_idempotence=True,
        acks="all",
        # Topics are created by the stack's super user (services.common.topics.ensure_topics), never by a
        # service's principal, which may not.
        allow_auto_create_topics=False,
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
