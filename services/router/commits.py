"""Offsets committed in the order batches were consumed, each only after Kafka has what the batch produced.

The router does not wait for one batch's acknowledgements before deciding the next: up to `depth`
batches are in flight, and a chain of tasks commits their offsets one after the other, each once
its own events are acknowledged. A batch whose events Kafka refuses is published again (the same
bytes, the same event ids) until Kafka takes them; the batches after it wait, so no offset is ever
committed past an event Kafka does not have. A commit that fails (the group rebalanced, the
consumer stopped) is only logged: the records after the last commit are redelivered to whoever
owns the partition next, and the routed event ids are the same, so downstream applies them once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any, Protocol

from aiokafka import ConsumerRecord, TopicPartition
from aiokafka.abc import ConsumerRebalanceListener

log = logging.getLogger("xf.router")
DEPTH = 3
RETRY_FIRST_S = 0.5
RETRY_MAX_S = 10.0


class OffsetCommitter(Protocol):
    async def commit(self, offsets: dict[TopicPartition, int]) -> None: ...


# Queues a batch's records again; returns the new futures (one per record or record batch).
Republish = Callable[[], Awaitable[Sequence["asyncio.Future[Any]"]]]


def next_offsets(records: Iterable[ConsumerRecord[bytes, bytes]]) -> dict[TopicPartition, int]:
    """What to commit after these records: per partition, the offset after the last one."""
    offsets: dict[TopicPartition, int] = {}
    for record in records:
        partition = TopicPartition(record.topic, record.partition)
        if record.offset >= offsets.get(partition, -1):
            offsets[partition] = record.offset + 1
    return offsets


class OrderedCommits:
    def __init__(self, depth: int = DEPTH, *, on_retry: Callable[[], None] | None = None) -> None:
        self._room = asyncio.Semaphore(depth)
        self._last: asyncio.Task[None] | None = None
        self._on_retry = on_retry or (lambda: None)
        self.committed = 0  # batches whose offsets were committed (tests and benchmarks read it)

    async def add(
        self,
        consumer: OffsetCommitter,
        offsets: dict[TopicPartition, int],
        sent: Sequence[asyncio.Future[Any]],
        republish: Republish,
        then: Callable[[], None] = lambda: None,
    ) -> None:
        """Queue a batch's commit behind the earlier ones; waits while `depth` batches are unacknowledged.

        `then` runs once the batch's events are acknowledged (its metrics), before the commit.
        """
        await self._room.acquire()
        self._last = asyncio.create_task(self._settle(self._last, consumer, offsets, sent, republish, then))

    async def drain(self) -> None:
        """Wait for every queued batch to be acknowledged and committed (or given up on)."""
        if self._last is not None:
            with contextlib.suppress(Exception):
                await asyncio.shield(self._last)

    async def _settle(
        self,
        earlier: asyncio.Task[None] | None,
        consumer: OffsetCommitter,
        offsets: dict[TopicPartition, int],
        sent: Sequence[asyncio.Future[Any]],
        republish: Republish,
        then: Callable[[], None],
    ) -> None:
        try:
            await self._acknowledged(sent, republish)
            try:
                then()
            except Exception:  # counting must not hold offsets back
                log.exception("after-acknowledgement step failed")
            if earlier is not None:
                await earlier  # returns once the earlier batch committed or gave up on committing
            try:
                await consumer.commit(offsets)
                self.committed += 1
            except Exception as error:  # rebalanced or stopped: the next owner starts from the last commit
                log.warning("could not commit offsets %s (%s); those records will be delivered again", offsets, error)
        finally:
            self._room.release()

    async def _acknowledged(self, sent: Sequence[asyncio.Future[Any]], republish: Republish) -> None:
        pause = RETRY_FIRST_S
        while True:
            results = await asyncio.gather(*sent, return_exceptions=True)
            failed = [result for result in results if isinstance(result, BaseException)]
            if not failed:
                return
            self._on_retry()
            log.error("Kafka did not take a batch's events (%r); publishing them again in %.1fs", failed[0], pause)
            await asyncio.sleep(pause)
            pause = min(pause * 2, RETRY_MAX_S)
            try:
                sent = await republish()
            except Exception as error:
                sent = [_failed(error)]


def _failed(error: Exception) -> asyncio.Future[Any]:
    future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
    future.set_exception(error)
    return future


class SettleBeforeRevoke(ConsumerRebalanceListener):  # type: ignore[misc]
    """On a rebalance, let the batches in flight commit before the partitions go to another consumer."""

    def __init__(self, commits: OrderedCommits, timeout_s: float = 30.0) -> None:
        self.commits = commits
        self.timeout_s = timeout_s

    async def on_partitions_revoked(self, revoked: Any) -> None:
        try:
            await asyncio.wait_for(self.commits.drain(), self.timeout_s)
        except TimeoutError:
            log.warning("batches still unacknowledged after %ss; their records will be delivered again", self.timeout_s)

    async def on_partitions_assigned(self, assigned: Any) -> None:
        return None
