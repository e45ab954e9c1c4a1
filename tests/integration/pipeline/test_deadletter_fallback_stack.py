"""The minimal dead-letter fallback against the real broker: a letter the broker refuses (here: larger than
the topic takes) is written minimal, with the same id, and a consumer reads it back."""

from __future__ import annotations

import json
import uuid

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.structs import TopicPartition

from services.common.deadletter import dead_letter_event, send_dead_letter
from services.common.envelope import Envelope, to_bytes
from services.common.kafka import client_options
from services.common.schemas import DeadLetter
from services.common.settings import Settings


async def test_a_letter_the_broker_refuses_is_written_minimal(running_stack: Settings) -> None:
    settings = running_stack
    topic = f"test.deadletter.{uuid.uuid4().hex[:8]}"
    admin = AIOKafkaAdminClient(**client_options(settings))
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, 1, 1, topic_configs={"max.message.bytes": "4096"})])
    finally:
        await admin.close()

    letter = dead_letter_event(
        consumer="tracker",
        topic="case.lifecycle",
        partition=4,
        offset=1234,
        reason="malformed: (body): too_deep: nested more than 32 deep",
        payload=b"x" * 20_000,  # the full letter is larger than the topic takes
    )
    producer = AIOKafkaProducer(**client_options(settings), acks="all")
    await producer.start()
    try:

        async def publish(envelope: Envelope[DeadLetter]) -> None:
            await producer.send_and_wait(topic, to_bytes(envelope), key=b"unknown")

        assert await send_dead_letter(publish, letter, pause_s=0.1)
    finally:
        await producer.stop()

    consumer = AIOKafkaConsumer(**client_options(settings), enable_auto_commit=False)
    await consumer.start()
    try:
        tp = TopicPartition(topic, 0)
        consumer.assign([tp])
        await consumer.seek_to_beginning(tp)
        records = (await consumer.getmany(tp, timeout_ms=10_000)).get(tp, [])
    finally:
        await consumer.stop()
    [record] = records
    written = json.loads(record.value or b"")
    assert written["id"] == letter.id and written["type"] == "case.deadletter"
    assert written["data"] == {
        "topic": "case.lifecycle",
        "partition": 4,
        "offset": 1234,
        "consumer": "tracker",
        "reason": "malformed: (body): too_deep: nested more than 32 deep",
        "payload": "",
    }
    assert Envelope[DeadLetter].model_validate_json(record.value or b"").id == letter.id
