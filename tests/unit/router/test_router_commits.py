"""Pipelined commits (services/router/commits.py): in consumption order, never past an unacknowledged event."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiokafka import TopicPartition
from aiokafka.structs import ConsumerRecord

from services.router import commits as commits_module
from services.router.commits import OrderedCommits, next_offsets

P0, P1 = TopicPartition("in", 0), TopicPartition("in", 1)


class Consumer:
    def __init__(self, fail_first: int = 0) -> None:
        self.commits: list[dict[TopicPartition, int]] = []
        self.fail_first = fail_first

    async def commit(self, offsets: dict[TopicPartition, int]) -> None:
        if self.fail_first:
            self.fail_first -= 1
            raise RuntimeError("rebalanced")
        self.commits.append(dict(offsets))


def pending() -> asyncio.Future[Any]:
    return asyncio.get_running_loop().create_future()


def record(partition: int, offset: int) -> ConsumerRecord[bytes, bytes]:
    return ConsumerRecord("in", partition, offset, 0, 0, b"k", b"v", None, 1, 1, [])


async def no_republish() -> list[asyncio.Future[Any]]:
    raise AssertionError("not expected")


def test_next_offsets_are_one_past_the_last_record_per_partition() -> None:
    records = [record(0, 5), record(1, 9), record(0, 7), record(0, 6)]
    assert next_offsets(records) == {P0: 8, P1: 10}


async def test_batches_commit_in_order_even_when_acknowledged_out_of_order() -> None:
    consumer, commits = Consumer(), OrderedCommits(depth=3)
    first, second = pending(), pending()
    counted: list[str] = []
    await commits.add(consumer, {P0: 10}, [first], no_republish, lambda: counted.append("first"))
    await commits.add(consumer, {P0: 20, P1: 5}, [second], no_republish, lambda: counted.append("second"))
    second.set_result(None)
    await asyncio.sleep(0.01)
    assert consumer.commits == [] and counted == ["second"]  # acknowledged, but waits for the first batch
    first.set_result(None)
    await commits.drain()
    assert consumer.commits == [{P0: 10}, {P0: 20, P1: 5}]
    assert counted == ["second", "first"] and commits.committed == 2


async def test_a_refused_batch_is_published_again_and_holds_back_the_later_commits(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(commits_module, "RETRY_FIRST_S", 0.01)
    consumer, retries = Consumer(), []
    commits = OrderedCommits(depth=3, on_retry=lambda: retries.append(1))
    refused = pending()
    refused.set_exception(ConnectionError("broker gone"))
    attempts = 0

    async def republish() -> list[asyncio.Future[Any]]:
        nonlocal attempts
        attempts += 1
        future = pending()
        if attempts < 3:
            future.set_exception(ConnectionError("still gone"))
        else:
            future.set_result(None)
        return [future]

    later = pending()
    later.set_result(None)
    await commits.add(consumer, {P0: 10}, [refused], republish)
    await commits.add(consumer, {P0: 20}, [later], no_republish)
    await asyncio.sleep(0.005)
    assert consumer.commits == []
    await commits.drain()
    assert attempts == 3 and len(retries) == 3
    assert consumer.commits == [{P0: 10}, {P0: 20}]


async def test_a_failed_commit_is_logged_and_the_next_batch_commits(caplog: pytest.LogCaptureFixture) -> None:
    consumer, commits = Consumer(fail_first=1), OrderedCommits()
    for offset in (10, 20):
        done = pending()
        done.set_result(None)
        await commits.add(consumer, {P0: offset}, [done], no_republish)
    await commits.drain()
    assert consumer.commits == [{P0: 20}]
    assert "could not commit offsets" in caplog.text


async def test_no_more_than_depth_batches_wait_for_acknowledgement() -> None:
    consumer, commits = Consumer(), OrderedCommits(depth=2)
    futures = [pending() for _ in range(3)]
    await commits.add(consumer, {P0: 1}, [futures[0]], no_republish)
    await commits.add(consumer, {P0: 2}, [futures[1]], no_republish)
    third = asyncio.create_task(commits.add(consumer, {P0: 3}, [futures[2]], no_republish))
    await asyncio.sleep(0.01)
    assert not third.done()  # the handler waits: the consumer fetches no further meanwhile
    futures[0].set_result(None)
    await asyncio.wait_for(third, 1)
    for future in futures[1:]:
        future.set_result(None)
    await commits.drain()
    assert consumer.commits == [{P0: 1}, {P0: 2}, {P0: 3}]
