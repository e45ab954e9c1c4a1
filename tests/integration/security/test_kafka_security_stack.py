"""Kafka in the real stack authenticates every client (SASL/SCRAM-SHA-512) and authorises every request
(ACLs, nothing allowed without one): forged events from a producer without credentials, or from a
partner on another partner's topic, never reach a topic."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import GroupAuthorizationFailedError, KafkaConnectionError, TopicAuthorizationFailedError

from services.common.kafka import client_options
from services.common.kafka_principals import (
    DEV_UNIT,
    DEV_UPSTREAM,
    add_partner_principal,
    list_partner_principals,
    remove_partner_principal,
)
from services.common.settings import Settings
from services.common.topics import (
    ALL_TOPICS,
    CASE_ALERT,
    CASE_LIFECYCLE,
    CASE_RECEIVED,
    CASE_ROUTED,
    CASE_STATUS,
    CASE_SUBMITTED,
    DEADLETTER,
)
from services.stack.apps import settings_environment

PARTITIONS = {topic.name: topic.partitions for topic in ALL_TOPICS}
# Long enough for a broker that answers, short enough that a refused client does not hang the suite.
TIMEOUTS = {"request_timeout_ms": 10_000}


@asynccontextmanager
async def producer(options: dict[str, Any]) -> AsyncIterator[AIOKafkaProducer]:
    client = AIOKafkaProducer(**options, **TIMEOUTS, enable_idempotence=True, acks="all")
    await client.start()
    try:
        yield client
    finally:
        await client.stop()


async def publish(options: dict[str, Any], topic: str, value: bytes) -> None:
    async with producer(options) as client:
        await client.send_and_wait(topic, value, key=b"security-test")


async def values_on(settings: Settings, topic: str) -> set[bytes]:
    """Every value on `topic`, read as the super user up to the end offsets of now (no waiting on time)."""
    consumer = AIOKafkaConsumer(**client_options(settings), enable_auto_commit=False)
    await consumer.start()
    try:
        partitions = [TopicPartition(topic, p) for p in range(PARTITIONS[topic])]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        values: set[bytes] = set()
        while [tp for tp in partitions if await consumer.position(tp) < ends[tp]]:
            for records in (await consumer.getmany(timeout_ms=1000)).values():
                values.update(record.value or b"" for record in records)
        return values
    finally:
        await consumer.stop()


def marker(what: str) -> bytes:
    return json.dumps({"forged": what, "id": uuid.uuid4().hex}).encode()


async def test_a_producer_without_credentials_is_refused_and_nothing_reaches_the_topic(running_stack: Settings) -> None:
    forged = marker("no credentials")
    plaintext = {"bootstrap_servers": running_stack.bootstrap_servers, "security_protocol": "PLAINTEXT"}
    with pytest.raises(KafkaConnectionError):
        await publish(plaintext, CASE_LIFECYCLE.name, forged)
    assert forged not in await values_on(running_stack, CASE_LIFECYCLE.name)


@pytest.mark.parametrize("who", ["admin", DEV_UPSTREAM, "nobody-at-all"])
async def test_a_wrong_password_is_refused(running_stack: Settings, who: str) -> None:
    forged = marker(f"wrong password for {who}")
    options = client_options(running_stack, DEV_UPSTREAM) | {
        "sasl_plain_username": who,
        "sasl_plain_password": "not-the-password",
    }
    with pytest.raises(KafkaConnectionError):
        await publish(options, CASE_SUBMITTED.name, forged)
    assert forged not in await values_on(running_stack, CASE_SUBMITTED.name)


@pytest.mark.parametrize(
    ("partner", "allowed", "refused"),
    [
        (DEV_UPSTREAM, CASE_SUBMITTED.name, [CASE_LIFECYCLE.name, CASE_RECEIVED.name, CASE_ROUTED.name]),
        (DEV_UNIT, CASE_LIFECYCLE.name, [CASE_SUBMITTED.name, CASE_RECEIVED.name, CASE_ROUTED.name, CASE_STATUS.name]),
    ],
)
async def test_a_partner_writes_its_own_topic_only(
    running_stack: Settings, partner: str, allowed: str, refused: list[str]
) -> None:
    options = client_options(running_stack, partner)
    for topic in refused:
        forged = marker(f"{partner} on {topic}")
        with pytest.raises(TopicAuthorizationFailedError):
            await publish(options, topic, forged)
        assert forged not in await values_on(running_stack, topic)
    own = marker(f"{partner} on its own topic")
    await publish(options, allowed, own)
    assert own in await values_on(running_stack, allowed)


@pytest.mark.parametrize("partner", [DEV_UPSTREAM, DEV_UNIT])
@pytest.mark.parametrize(
    "topic", [CASE_SUBMITTED.name, CASE_RECEIVED.name, CASE_LIFECYCLE.name, CASE_STATUS.name, DEADLETTER.name]
)
async def test_a_partner_reads_nothing(running_stack: Settings, partner: str, topic: str) -> None:
    options = client_options(running_stack, partner)
    in_a_group = AIOKafkaConsumer(
        topic, **options, group_id=f"{partner}-snoop", auto_offset_reset="earliest", enable_auto_commit=False
    )
    # Refused when it joins (no group rights; a topic it may not even see) or at its first fetch.
    with pytest.raises((TopicAuthorizationFailedError, GroupAuthorizationFailedError)):
        try:
            await in_a_group.start()
            await in_a_group.getmany(timeout_ms=5000)
        finally:
            await in_a_group.stop()


@pytest.mark.parametrize(("partner", "topic"), [(DEV_UPSTREAM, CASE_SUBMITTED.name), (DEV_UNIT, CASE_LIFECYCLE.name)])
async def test_a_partner_cannot_read_back_even_its_own_topic(running_stack: Settings, partner: str, topic: str) -> None:
    alone = AIOKafkaConsumer(**client_options(running_stack, partner), enable_auto_commit=False)
    await alone.start()
    try:
        partition = TopicPartition(topic, 0)
        alone.assign([partition])
        with pytest.raises(TopicAuthorizationFailedError):
            await alone.seek_to_beginning(partition)
            await alone.getmany(partition, timeout_ms=5000)
    finally:
        await alone.stop()


@pytest.mark.parametrize(
    ("service", "writes", "refused"),
    [
        ("intake", CASE_RECEIVED.name, CASE_ROUTED.name),
        ("router", CASE_ROUTED.name, CASE_LIFECYCLE.name),
        ("tracker", CASE_ALERT.name, CASE_SUBMITTED.name),
    ],
)
async def test_a_service_principal_writes_its_topics_and_no_other(
    running_stack: Settings, service: str, writes: str, refused: str
) -> None:
    options = client_options(running_stack, service)
    forged = marker(f"{service} on {refused}")
    with pytest.raises(TopicAuthorizationFailedError):
        await publish(options, refused, forged)
    assert forged not in await values_on(running_stack, refused)
    async with producer(options) as client:  # allowed: a record nobody acts on (not JSON: dead-lettered)
        sent = await client.send_and_wait(writes, b"", key=b"security-test-no-case")
    assert sent.offset >= 0


async def test_the_services_run_as_their_own_principals(running_stack: Settings) -> None:
    for service in ("intake", "router", "tracker"):
        pid = int((running_stack.stack_dir / "run" / f"{service}.pid").read_text())
        raw = Path(f"/proc/{pid}/environ").read_text()
        environ = dict(item.split("=", 1) for item in raw.split("\0") if "=" in item)
        assert environ["XF_KAFKA_USERNAME"] == service
        assert environ["XF_KAFKA_PASSWORD"] == client_options(running_stack, service)["sasl_plain_password"]


def xf(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **settings_environment(settings)}
    return subprocess.run(
        [sys.executable, "-m", "services.cli", *args], env=env, capture_output=True, text=True, timeout=120, check=False
    )


@pytest.mark.parametrize(("role", "topic"), [("upstream", CASE_SUBMITTED.name), ("unit", CASE_LIFECYCLE.name)])
async def test_kafka_config_prints_settings_that_connect(running_stack: Settings, role: str, topic: str) -> None:
    answer = await asyncio.to_thread(xf, running_stack, "stack", "kafka-config", "--role", role)
    assert answer.returncode == 0, answer.stderr
    options = json.loads(answer.stdout)
    assert set(options) == {
        "bootstrap_servers",
        "security_protocol",
        "sasl_mechanism",
        "sasl_plain_username",
        "sasl_plain_password",
    }
    assert options["sasl_plain_username"] == {"upstream": DEV_UPSTREAM, "unit": DEV_UNIT}[role]
    sent = marker(f"kafka-config {role}")
    await publish(options, topic, sent)
    assert sent in await values_on(running_stack, topic)


async def test_kafka_config_has_no_password_of_a_partner(running_stack: Settings) -> None:
    answer = await asyncio.to_thread(xf, running_stack, "stack", "kafka-config", "--role", "unit", "--name", "x")
    assert answer.returncode == 1 and "printed once" in answer.stderr and answer.stdout == ""


async def test_a_partner_added_then_removed_can_no_longer_publish(running_stack: Settings) -> None:
    name = f"test-unit-{uuid.uuid4().hex[:8]}"
    options = await asyncio.to_thread(add_partner_principal, running_stack, name, "unit")
    assert (await asyncio.to_thread(list_partner_principals, running_stack))[name] == "unit"
    async with producer(options) as open_connection:
        first = marker(f"{name} while registered")
        await open_connection.send_and_wait(CASE_LIFECYCLE.name, first, key=b"security-test")
        with pytest.raises(TopicAuthorizationFailedError):
            await open_connection.send_and_wait(CASE_SUBMITTED.name, marker(name), key=b"security-test")

        await asyncio.to_thread(remove_partner_principal, running_stack, name)

        after = marker(f"{name} after removal, open connection")
        with pytest.raises(TopicAuthorizationFailedError):  # its ACLs went at once
            await open_connection.send_and_wait(CASE_LIFECYCLE.name, after, key=b"security-test")
    again = marker(f"{name} after removal, new connection")
    with pytest.raises(KafkaConnectionError):  # and its credentials
        await publish(options, CASE_LIFECYCLE.name, again)
    values = await values_on(running_stack, CASE_LIFECYCLE.name)
    assert first in values and after not in values and again not in values
    assert name not in await asyncio.to_thread(list_partner_principals, running_stack)


async def test_the_partner_command_adds_lists_and_removes(running_stack: Settings) -> None:
    name = f"test-upstream-{uuid.uuid4().hex[:8]}"
    added = await asyncio.to_thread(xf, running_stack, "kafka", "partner", "add", name, "--role", "upstream")
    assert added.returncode == 0, added.stderr
    options = json.loads(added.stdout)
    assert options["sasl_plain_username"] == name and "shown this once" in added.stderr
    twice = await asyncio.to_thread(xf, running_stack, "kafka", "partner", "add", name, "--role", "unit")
    assert twice.returncode == 1 and "exists" in twice.stderr
    listed = await asyncio.to_thread(xf, running_stack, "kafka", "partner", "list")
    assert f"{name}\tupstream" in listed.stdout.splitlines()
    await publish(options, CASE_SUBMITTED.name, marker(name))
    removed = await asyncio.to_thread(xf, running_stack, "kafka", "partner", "remove", name)
    assert removed.returncode == 0, removed.stderr
    with pytest.raises(KafkaConnectionError):
        await publish(options, CASE_SUBMITTED.name, marker(name))


def test_the_stack_secrets_are_readable_by_their_owner_only(running_stack: Settings) -> None:
    secrets = running_stack.stack_dir / "secrets"
    files = [path for path in secrets.rglob("*") if path.is_file()]
    assert {path.name for path in files} >= {"pseudonym-key", "vault-keys", "admin.json", "intake.json"}
    assert {path.stat().st_mode & 0o777 for path in files} == {0o600}
    assert (running_stack.stack_dir / "kafka" / "server.properties").stat().st_mode & 0o777 == 0o600
    assert running_stack.pseudonym_key != Settings.model_fields["pseudonym_key"].default
    assert running_stack.pseudonym_key == (secrets / "pseudonym-key").read_text().strip()


async def test_rotating_a_stack_password_retires_the_old_one(running_stack: Settings) -> None:
    old = client_options(running_stack, DEV_UNIT)
    rotated = await asyncio.to_thread(xf, running_stack, "kafka", "rotate", DEV_UNIT)
    assert rotated.returncode == 0, rotated.stderr
    new = client_options(running_stack, DEV_UNIT)
    assert new["sasl_plain_password"] != old["sasl_plain_password"]
    path = running_stack.stack_dir / "secrets" / "kafka" / f"{DEV_UNIT}.json"
    assert path.stat().st_mode & 0o777 == 0o600
    with pytest.raises(KafkaConnectionError):
        await publish(old, CASE_LIFECYCLE.name, marker("old password"))
    await publish(new, CASE_LIFECYCLE.name, marker("new password"))
