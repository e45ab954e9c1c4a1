"""Poison records on every input topic (tests/support/poison.py) leave every consumer running, on the real
Kafka and PostgreSQL: the good cases published after them are accepted, routed and tracked, every
consumer group's lag returns to 0, /healthz stays ok, and each consumer writes exactly one dead letter per
poison record it reads."""

from __future__ import annotations

import json
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.structs import TopicPartition
from poison import lifecycle_body, poison_for, received_body, routed_body, submission
from polling import eventually

from services.access.registry import DEV_CLIENT
from services.common.kafka import client_options
from services.common.settings import Settings
from services.common.signing import Signer, service_signer
from services.common.topics import ALL_TOPICS, DEADLETTER

# Which consumers (dead-letter `consumer`) read each topic and dead-letter what they refuse.
DEAD_LETTERING = {
    "case.submitted": ("intake",),
    "case.received": ("router", "tracker"),
    "case.routed": ("tracker",),
    "case.lifecycle": ("tracker",),
    "case.status": ("intake-outcomes",),
}
GROUPS = {
    "intake": ("case.submitted",),
    "intake-outcomes": ("case.status",),
    "router": ("case.received",),
    "tracker": ("case.received", "case.routed", "case.lifecycle"),
}
PARTITIONS = {topic.name: topic.partitions for topic in ALL_TOPICS}
Position = tuple[str, int, int]


def submitted(data: dict[str, Any]) -> dict[str, Any]:
    return {
        "specversion": "1.0",
        "id": f"poison-test-{uuid.uuid4()}",
        "type": "case.submitted",
        "source": "poison-test/upstream",
        "time": datetime.now(UTC).isoformat(),
        "data": data,
    }


def signers(settings: Settings) -> dict[str, Signer]:
    """Who signs what partners write, so that the poison gets past the signature to the parsers: the
    development client on case.submitted, the tracker's own key on case.lifecycle."""
    own = type(settings)(stack_dir=settings.stack_dir)  # the keys the stack generated, read now
    return {
        "case.submitted": Signer(DEV_CLIENT, own.intake_dev_signing_key),
        "case.lifecycle": service_signer("tracker", own.event_signing_key),
    }


async def publish(settings: Settings, messages: list[tuple[str, bytes, bytes]]) -> list[Position]:
    producer = AIOKafkaProducer(**client_options(settings), enable_idempotence=True, acks="all")
    signed_by = signers(settings)
    await producer.start()
    try:
        positions = []
        for topic, key, value in messages:
            headers = None
            if topic in signed_by:  # named by an id of its own: poison has none to read
                event_id = str(uuid.uuid4())
                signed = signed_by[topic].headers(event_id, value)
                headers = [("ce-id", event_id.encode()), *((name, text.encode()) for name, text in signed.items())]
            sent = await producer.send_and_wait(topic, value, key=key, headers=headers)
            positions.append((topic, sent.partition, sent.offset))
        return positions
    finally:
        await producer.stop()


async def group_lags(settings: Settings) -> dict[str, int]:
    admin = AIOKafkaAdminClient(**client_options(settings))
    consumer = AIOKafkaConsumer(**client_options(settings), enable_auto_commit=False)
    await admin.start()
    await consumer.start()
    try:
        lags = {}
        for group, topics in GROUPS.items():
            partitions = [TopicPartition(t, p) for t in topics for p in range(PARTITIONS[t])]
            committed = await admin.list_consumer_group_offsets(group)
            ends = await consumer.end_offsets(partitions)
            lags[group] = sum(
                ends[tp] - max(committed[tp].offset, 0) if tp in committed else ends[tp] for tp in partitions
            )
        return lags
    finally:
        await consumer.stop()
        await admin.close()


async def dead_letters(settings: Settings, positions: set[Position]) -> Counter[tuple[str, Position]]:
    """Dead-letter records (not ids: a second copy counts) per (consumer, position) among `positions`."""
    consumer = AIOKafkaConsumer(**client_options(settings), enable_auto_commit=False)
    await consumer.start()
    try:
        partitions = [TopicPartition(DEADLETTER.name, p) for p in range(DEADLETTER.partitions)]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        found: Counter[tuple[str, Position]] = Counter()
        while [tp for tp in partitions if await consumer.position(tp) < ends[tp]]:
            for records in (await consumer.getmany(timeout_ms=1000)).values():
                for record in records:
                    data = json.loads(record.value or b"")["data"]
                    position = (data["topic"], data["partition"], data["offset"])
                    if position in positions:
                        found[(data["consumer"], position)] += 1
        return found
    finally:
        await consumer.stop()


async def test_poison_on_every_input_topic_stops_nothing(running_stack: Settings) -> None:
    settings = running_stack
    at = datetime.now(UTC) - timedelta(hours=2)
    goods: dict[str, dict[str, Any]] = {
        "case.submitted": submitted(submission(at, 0)),
        "case.received": received_body("XF-POISON-R", at),
        "case.routed": routed_body("XF-POISON-R", at),
        "case.lifecycle": lifecycle_body("XF-POISON-R", at),
    }
    poison = [
        (topic, f"XF-POISON-{name}".encode(), value)
        for topic, good in goods.items()
        for name, value in poison_for(topic, good).items()
    ]
    # Intake's case.status consumer gets the same records (none of them is a status event).
    poison += [("case.status", key, value) for topic, key, value in poison if topic == "case.lifecycle"]
    positions = await publish(settings, poison)

    # Good cases after the poison, on the same partitions as some of it (keys spread over all six).
    cases = [submitted(submission(at, n)) for n in range(1, 13)]
    await publish(settings, [("case.submitted", case["id"].encode(), json.dumps(case).encode()) for case in cases])

    conn = await asyncpg.connect(settings.dsn)
    try:

        async def all_tracked() -> list[str] | None:
            rows = await conn.fetch(
                """SELECT c.case_id FROM intake.cases c
                   JOIN tracker.cases t ON t.case_id = c.case_id AND t.disposition IS NOT NULL
                   JOIN intake.routings r ON r.case_id = c.case_id
                   WHERE c.idempotency_key = ANY($1::text[])""",
                [f"dev:{case['id']}" for case in cases],  # the development client's Kafka submissions
            )
            return [row["case_id"] for row in rows] if len(rows) == len(cases) else None

        await eventually(all_tracked, timeout=120, what="the good cases accepted, routed and tracked")
    finally:
        await conn.close()

    async def caught_up() -> dict[str, int] | None:
        lags = await group_lags(settings)
        return lags if not any(lags.values()) else None

    await eventually(caught_up, timeout=60, what="every consumer group's lag back to 0")

    expected = {(consumer, position) for position in positions for consumer in DEAD_LETTERING[position[0]]}

    async def all_letters() -> Counter[tuple[str, Position]] | None:
        found = await dead_letters(settings, set(positions))
        return found if set(found) >= expected else None

    found = await eventually(all_letters, timeout=60, what="a dead letter for every poison record")
    assert set(found) == expected
    assert all(count == 1 for count in found.values()), {key: n for key, n in found.items() if n != 1}

    async with httpx.AsyncClient() as client:
        for port in (settings.intake_port, settings.router_port, settings.tracker_port):
            health = await client.get(f"http://{settings.host}:{port}/healthz")
            assert health.status_code == 200, health.text
            metrics = (await client.get(f"http://{settings.host}:{port}/metrics")).text
            assert "xf_consumer_stalled{" in metrics and not any(
                line.startswith("xf_consumer_stalled{") and not line.endswith(" 0.0") for line in metrics.splitlines()
            )
