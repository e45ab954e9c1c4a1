"""Is each consumer making progress? Its group's committed offsets against the topics' end offsets.

A consumer commits offsets only after a record's effect is durable, so a committed offset that moves
is progress, whatever the consumer does in between (a batch, a retry, a dead letter). A partition with
records waiting (end offset beyond the committed one) whose committed offset has not moved for
`XF_CONSUMER_STALL_SECONDS` is stalled: a poison record retried forever, a dependency down, a consumer
task that died. `/healthz` then answers 503 naming the group (services.common.runtime), and
`xf_consumer_stalled{service,group}` is 1 (alert XfConsumerStalled). Only the partitions assigned to
this process count, when it has any: another instance's stall is that instance's to report.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.structs import TopicPartition
from prometheus_client import Gauge

from services.common.kafka import client_options
from services.common.runtime import every
from services.common.settings import Settings
from services.common.topics import Topic

log = logging.getLogger("xf.progress")

STALLED = Gauge(
    "xf_consumer_stalled",
    "1 while a consumer group has records waiting and has committed nothing for XF_CONSUMER_STALL_SECONDS",
    ["service", "group"],
)
LAST_PROGRESS = Gauge(
    "xf_consumer_last_progress_timestamp_seconds",
    "When the consumer group last committed, or last had nothing waiting (Unix time)",
    ["service", "group"],
)
WAITING = Gauge(
    "xf_consumer_waiting_records",
    "Records on the group's topics after its committed offsets (its lag)",
    ["service", "group"],
)

Assignment = Callable[[], Iterable[TopicPartition]]


@dataclass
class Stall:
    """Per partition: the last committed offset seen and when it last moved (or had nothing waiting)."""

    stall_seconds: float
    committed: dict[TopicPartition, int] = field(default_factory=dict)
    moved_at: dict[TopicPartition, float] = field(default_factory=dict)
    lag: dict[TopicPartition, int] = field(default_factory=dict)

    def observe(self, committed: dict[TopicPartition, int], ends: dict[TopicPartition, int], now: float) -> None:
        for tp, end in ends.items():
            position = committed.get(tp, 0)
            waiting = max(end - position, 0)
            if waiting == 0 or self.committed.get(tp) != position or tp not in self.moved_at:
                self.moved_at[tp] = now
            self.committed[tp] = position
            self.lag[tp] = waiting

    def stalled(self, now: float, partitions: Iterable[TopicPartition] | None = None) -> list[TopicPartition]:
        considered = set(self.lag) if partitions is None else set(partitions) & set(self.lag)
        return sorted(
            (tp for tp in considered if self.lag[tp] > 0 and now - self.moved_at[tp] > self.stall_seconds),
            key=lambda tp: (tp.topic, tp.partition),
        )

    def last_progress(self, partitions: Iterable[TopicPartition] | None = None) -> float | None:
        considered = set(self.lag) if partitions is None else set(partitions) & set(self.lag)
        waiting = [self.moved_at[tp] for tp in considered if self.lag[tp] > 0]
        if waiting:
            return min(waiting)
        return max((self.moved_at[tp] for tp in considered), default=None)


class ConsumerProgress:
    """One consumer group of this process, measured every `XF_CONSUMER_PROGRESS_INTERVAL` seconds."""

    def __init__(
        self,
        settings: Settings,
        *,
        service: str,
        group: str,
        topics: Iterable[Topic],
        assignment: Assignment | None = None,
    ) -> None:
        self.settings = settings
        self.service = service
        self.group = group
        self.partitions = [TopicPartition(t.name, p) for t in topics for p in range(t.partitions)]
        self.assignment = assignment
        self.stall = Stall(settings.consumer_stall_seconds)
        self.measured = False
        self._admin: AIOKafkaAdminClient | None = None
        self._consumer: AIOKafkaConsumer | None = None

    async def start(self) -> None:
        options = client_options(self.settings)
        self._admin = AIOKafkaAdminClient(**options)
        await self._admin.start()
        self._consumer = AIOKafkaConsumer(**options, enable_auto_commit=False)
        await self._consumer.start()

    async def stop(self) -> None:
        if self._consumer is not None:
            await self._consumer.stop()
            self._consumer = None
        if self._admin is not None:
            await self._admin.close()
            self._admin = None

    async def measure(self, now: float | None = None) -> None:
        if self._admin is None or self._consumer is None:
            await self.start()
        assert self._admin is not None and self._consumer is not None
        offsets = await self._admin.list_consumer_group_offsets(self.group)
        ends = await self._consumer.end_offsets(self.partitions)
        starts = await self._consumer.beginning_offsets(self.partitions)
        committed = {
            tp: (done.offset if (done := offsets.get(tp)) is not None and done.offset >= 0 else starts.get(tp, 0))
            for tp in self.partitions
        }
        self.stall.observe(committed, {tp: ends.get(tp, 0) for tp in self.partitions}, now or time.time())
        self.measured = True
        self._export(now or time.time())

    def _mine(self) -> list[TopicPartition] | None:
        if self.assignment is None:
            return None
        try:
            assigned = [tp for tp in self.assignment() if tp in self.stall.lag]
        except Exception:  # the consumer is not running: every partition counts
            return None
        return assigned or None

    def stalled(self, now: float | None = None) -> list[TopicPartition]:
        return self.stall.stalled(now or time.time(), self._mine()) if self.measured else []

    def lag_by_topic(self) -> dict[str, int]:
        lag: Counter[str] = Counter()
        for tp, waiting in self.stall.lag.items():
            lag[tp.topic] += waiting
        return dict(lag)

    def _export(self, now: float) -> None:
        mine = self._mine()
        STALLED.labels(self.service, self.group).set(1 if self.stall.stalled(now, mine) else 0)
        last = self.stall.last_progress(mine)
        if last is not None:
            LAST_PROGRESS.labels(self.service, self.group).set(last)
        WAITING.labels(self.service, self.group).set(
            sum(self.stall.lag[tp] for tp in (mine if mine is not None else self.stall.lag))
        )

    async def watch(self) -> None:
        """Measure forever (a failed round is logged; the next one tries again)."""
        try:
            await every(self.settings.consumer_progress_interval, self.measure, log, f"progress of {self.group}")
        finally:
            await self.stop()


def stalled_groups(watches: Iterable[ConsumerProgress]) -> list[str]:
    """`group (topic/partition, …)` of each stalled group, for /healthz."""
    found = []
    for watch in watches:
        stalled = watch.stalled()
        if stalled:
            where = ", ".join(f"{tp.topic}/{tp.partition}" for tp in stalled[:10])
            found.append(f"{watch.group} ({where})")
    return found


def assignment_of(subscriber: Any) -> Assignment:
    """The partitions a faststream Kafka subscriber's consumer holds now (none before it started)."""

    def assigned() -> Iterable[TopicPartition]:
        consumer = getattr(subscriber, "consumer", None)
        return set(consumer.assignment()) if consumer is not None else set()

    return assigned
