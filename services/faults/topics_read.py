"""Reading the campaign stack's topics and consumer groups as they are: every record of a topic from the
beginning to its end offsets, and each group's committed offsets against those ends.

Records are decoded within bounds (`services.common.bounded`): the poison the campaign published is in
these topics too, and the instrument must not choke on what it measures.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from services.common import bounded
from services.common.topics import ALL_TOPICS, CASE_LIFECYCLE, CASE_RECEIVED, CASE_ROUTED, CASE_STATUS, CASE_SUBMITTED
from services.faults.principals import Principal

PARTITIONS = {topic.name: topic.partitions for topic in ALL_TOPICS}
# The topics the services consume (lags are measured on these).
CONSUMED = (CASE_SUBMITTED.name, CASE_RECEIVED.name, CASE_ROUTED.name, CASE_LIFECYCLE.name, CASE_STATUS.name)
FETCH_BYTES = 4 * 1024 * 1024
LIMITS = bounded.Limits(max_bytes=2 * 1024 * 1024, max_depth=64)


@dataclass(frozen=True)
class TopicRecord:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: Any  # the decoded JSON, or None when it is not readable within bounds


async def read_topic(principal: Principal, topic: str, timeout: float = 60.0) -> list[TopicRecord]:
    consumer = AIOKafkaConsumer(
        **principal.options,
        enable_auto_commit=False,
        fetch_max_bytes=FETCH_BYTES,
        max_partition_fetch_bytes=FETCH_BYTES,
    )
    await consumer.start()
    try:
        partitions = [TopicPartition(topic, p) for p in range(PARTITIONS[topic])]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends: dict[TopicPartition, int] = await consumer.end_offsets(partitions)
        found: list[TopicRecord] = []
        remaining = {tp for tp, end in ends.items() if end > 0}
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while remaining and loop.time() < deadline:
            batches = await consumer.getmany(timeout_ms=500, max_records=2000)
            for tp, records in batches.items():
                for record in records:
                    found.append(TopicRecord(topic, tp.partition, record.offset, record.key, _decode(record.value)))
                    if record.offset + 1 >= ends[tp]:
                        remaining.discard(tp)
        if remaining:
            raise TimeoutError(f"{topic}: not read to its end within {timeout:.0f}s")
        return found
    finally:
        await consumer.stop()


def _decode(value: bytes | None) -> Any:
    try:
        return bounded.load_json(value or b"", LIMITS)
    except bounded.Refused:
        return None


@dataclass(frozen=True)
class GroupLag:
    group: str
    topic: str
    lag: int  # records between the committed offsets and the ends, over the topic's partitions
    committed: dict[int, int]  # partition → committed offset


def expected_groups() -> dict[str, tuple[str, ...]]:
    """The services' consumer groups and the input topics each consumes: a group that never committed
    on one of them counts as behind by the whole topic."""
    from services.intake.service import CONSUMER as INTAKE
    from services.intake.service import OUTCOMES_CONSUMER
    from services.router.service import CONSUMER as ROUTER
    from services.tracker.consumer import CONSUMER as TRACKER
    from services.tracker.service import CONSUMED

    return {
        INTAKE: (CASE_SUBMITTED.name,),
        OUTCOMES_CONSUMER: (CASE_STATUS.name,),  # intake's status view follows the tracker
        ROUTER: (CASE_RECEIVED.name,),
        TRACKER: tuple(topic.name for topic in CONSUMED),
    }


async def group_lags(principal: Principal, topics: tuple[str, ...]) -> list[GroupLag]:
    """The lag of every consumer group on each of `topics` it consumes (the services' groups) or has
    committed offsets for (any other)."""
    admin = AIOKafkaAdminClient(**principal.options, request_timeout_ms=10_000)
    consumer = AIOKafkaConsumer(**principal.options, enable_auto_commit=False)
    await admin.start()
    await consumer.start()
    try:
        partitions = [TopicPartition(topic, p) for topic in topics for p in range(PARTITIONS[topic])]
        ends: dict[TopicPartition, int] = await consumer.end_offsets(partitions)
        lags = []
        expected = expected_groups()
        groups = {str(group) for group, *_ in await admin.list_consumer_groups()} | set(expected)
        for group in sorted(groups):
            committed = await admin.list_consumer_group_offsets(group)
            by_topic: dict[str, dict[int, int]] = defaultdict(dict)
            for topic in expected.get(group, ()):
                by_topic[topic] = {}
            for tp, meta in committed.items():
                if tp.topic in topics and meta.offset >= 0:
                    by_topic[tp.topic][tp.partition] = meta.offset
            for topic, offsets in sorted(by_topic.items()):
                lag = sum(end - offsets.get(tp.partition, 0) for tp, end in ends.items() if tp.topic == topic)
                lags.append(GroupLag(str(group), topic, lag, offsets))
        return sorted(lags, key=lambda g: (g.group, g.topic))
    finally:
        await consumer.stop()
        await admin.close()
