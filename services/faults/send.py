"""Producing the campaign's records: each attempt bounded in time, each outcome reported as Kafka gave it.

`produce_once` is for hostile records (poison, forgeries): one attempt; a broker that refuses the
connection, the credentials or the topic is an outcome ("refused at the broker"), not an error.
`Publisher` is for the load: a long-lived producer that sends again (same bytes, same event ids) until Kafka
acknowledges or the deadline passes, across broker restarts.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Sequence
from dataclasses import dataclass

from aiokafka import AIOKafkaProducer

from services.faults.principals import Principal

MAX_REQUEST = 1_048_576  # the oversize poison record (600 KB) fits; the broker's default limit is 1 MB


@dataclass(frozen=True)
class Outgoing:
    topic: str
    value: bytes
    key: bytes | None = None
    headers: tuple[tuple[str, bytes], ...] = ()


@dataclass(frozen=True)
class Delivery:
    record: Outgoing
    partition: int | None = None
    offset: int | None = None
    error: str | None = None  # why Kafka did not take it

    @property
    def delivered(self) -> bool:
        return self.error is None


def _producer(principal: Principal, **extra: object) -> AIOKafkaProducer:
    return AIOKafkaProducer(
        **principal.options,
        acks="all",
        enable_idempotence=True,
        max_request_size=MAX_REQUEST,
        request_timeout_ms=10_000,
        **extra,
    )


def _describe(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"[:300] if str(error) else type(error).__name__


async def produce_once(principal: Principal, records: Sequence[Outgoing], *, timeout: float = 20.0) -> list[Delivery]:
    """One attempt per record; what the broker refused is returned with its reason."""
    producer = _producer(principal)
    try:
        await asyncio.wait_for(producer.start(), timeout)
    except Exception as error:  # the broker would not talk to this principal at all
        with contextlib.suppress(Exception):
            await asyncio.wait_for(producer.stop(), 10)
        return [Delivery(r, error=f"refused at the broker: {_describe(error)}") for r in records]
    try:
        deliveries = []
        for record in records:
            try:
                meta = await asyncio.wait_for(
                    producer.send_and_wait(record.topic, record.value, key=record.key, headers=list(record.headers)),
                    timeout,
                )
                deliveries.append(Delivery(record, meta.partition, meta.offset))
            except Exception as error:
                deliveries.append(Delivery(record, error=f"refused at the broker: {_describe(error)}"))
        return deliveries
    finally:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(producer.stop(), 10)


class Publisher:
    """The load's producer: sends a chunk, sends again what Kafka did not acknowledge, until the deadline."""

    def __init__(self, principal: Principal) -> None:
        self.principal = principal
        self.producer = _producer(principal, linger_ms=5)
        self.retries = 0

    async def start(self, deadline: float) -> None:
        while True:
            try:
                await asyncio.wait_for(self.producer.start(), 15)
                return
            except Exception:
                if time.monotonic() > deadline:
                    raise
                with contextlib.suppress(Exception):
                    await self.producer.stop()
                self.producer = _producer(self.principal, linger_ms=5)
                await asyncio.sleep(1.0)

    async def stop(self) -> None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.producer.stop(), 15)

    async def send_all(self, records: Sequence[Outgoing], deadline: float) -> list[Delivery]:
        """Every record acknowledged, or the ones still unacknowledged at the deadline with their error."""
        done: dict[int, Delivery] = {}
        pending = list(range(len(records)))
        while pending:
            futures = []
            for index in pending:
                record = records[index]
                try:
                    futures.append(
                        await self.producer.send(
                            record.topic, record.value, key=record.key, headers=list(record.headers)
                        )
                    )
                except Exception as error:
                    futures.append(_failed(error))
            results = await asyncio.gather(*(asyncio.wait_for(f, 30) for f in futures), return_exceptions=True)
            failed = []
            for index, result in zip(pending, results, strict=True):
                if isinstance(result, BaseException):
                    done[index] = Delivery(records[index], error=_describe(result))
                    failed.append(index)
                else:
                    done[index] = Delivery(records[index], result.partition, result.offset)
            if not failed or time.monotonic() > deadline:
                break
            self.retries += len(failed)
            pending = failed
            await asyncio.sleep(1.0)
        return [done[i] for i in range(len(records))]


def _failed(error: BaseException) -> asyncio.Future[object]:
    future: asyncio.Future[object] = asyncio.get_running_loop().create_future()
    future.set_exception(error)
    return future
