"""Stall detection against the real broker (services.common.progress): a group with records waiting and
no committed progress for the stall window is stalled; a commit is progress; nothing waiting is never
a stall."""

from __future__ import annotations

import time
import uuid

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.structs import OffsetAndMetadata, TopicPartition

from services.common.kafka import client_options
from services.common.progress import STALLED, WAITING, ConsumerProgress, stalled_groups
from services.common.settings import Settings
from services.common.topics import Topic, ensure_topics


def gauge(metric: object, group: str) -> float:
    return float(metric.labels("test", group)._value.get())  # type: ignore[attr-defined]


async def test_waiting_records_without_commits_stall_and_a_commit_is_progress(running_stack: Settings) -> None:
    settings = running_stack.model_copy(update={"consumer_stall_seconds": 1.0})
    topic = Topic(f"test.progress.{uuid.uuid4().hex[:8]}", 2, "")
    group = f"test-progress-{uuid.uuid4().hex[:8]}"
    await ensure_topics(settings, (topic,))
    producer = AIOKafkaProducer(**client_options(settings), acks="all")
    await producer.start()
    try:
        for n in range(3):
            await producer.send_and_wait(topic.name, b"{}", partition=0, key=str(n).encode())
    finally:
        await producer.stop()

    progress = ConsumerProgress(settings, service="test", group=group, topics=(topic,))
    try:
        t0 = time.time() - 10  # the first look, ten seconds ago
        await progress.measure(now=t0)
        assert progress.stalled(now=t0) == [] and progress.lag_by_topic() == {topic.name: 3}
        await progress.measure()  # nothing committed since: stalled now
        assert progress.stalled() == [TopicPartition(topic.name, 0)]
        assert gauge(STALLED, group) == 1 and gauge(WAITING, group) == 3
        assert stalled_groups([progress]) == [f"{group} ({topic.name}/0)"]

        consumer = AIOKafkaConsumer(**client_options(settings), group_id=group, enable_auto_commit=False)
        await consumer.start()
        try:
            consumer.assign([TopicPartition(topic.name, 0)])
            await consumer.commit({TopicPartition(topic.name, 0): OffsetAndMetadata(2, "")})
        finally:
            await consumer.stop()
        await progress.measure()
        assert progress.stalled() == [] and gauge(STALLED, group) == 0 and stalled_groups([progress]) == []
        assert progress.lag_by_topic() == {topic.name: 1}
        later = time.time() + 10
        await progress.measure(now=later)
        assert progress.stalled(now=later) == [TopicPartition(topic.name, 0)]
    finally:
        await progress.stop()
