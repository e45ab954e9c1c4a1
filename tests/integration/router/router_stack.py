"""Helpers for the router service against the real broker: publishing records, collecting outputs."""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from collections.abc import Callable
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from services.common.bounded import Refused, load_json
from services.common.kafka import client_options
from services.common.settings import Settings


def quiet(line: str) -> None:
    """`report` for services.stack: keep the test output clean."""


async def eventually(probe: Callable[[], Any], what: str, timeout: float = 60.0) -> Any:
    """Polls until `probe()` is truthy; fails naming `what` after `timeout` seconds (not a speed check)."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not after {timeout}s")
        await asyncio.sleep(0.1)


class Outputs:
    """Everything that arrives on the routed and dead-letter topics, by key (case id)."""

    def __init__(self, settings: Settings, routed: str, deadletter: str) -> None:
        self._consumer = AIOKafkaConsumer(
            routed,
            deadletter,
            **client_options(settings),
            auto_offset_reset="earliest",
            enable_auto_commit=False,
        )
        self._routed_topic = routed
        self.routed: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self.dead: list[tuple[str, dict[str, Any]]] = []
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self._consumer.start()
        self._task = asyncio.create_task(self._collect())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
        await self._consumer.stop()

    async def _collect(self) -> None:
        while True:
            for records in (await self._consumer.getmany(timeout_ms=200)).values():
                for record in records:
                    try:  # other tests leave poison on the topics (tests/support/poison.py)
                        event = load_json(record.value or b"")
                    except Refused:
                        continue
                    key = (record.key or b"").decode()
                    if record.topic == self._routed_topic:
                        self.routed[key].append(event)
                    else:
                        self.dead.append((key, event))

    async def routed_for(self, case_id: str, count: int = 1) -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = await eventually(
            lambda: self.routed.get(case_id) if len(self.routed.get(case_id, [])) >= count else None,
            f"{count} routed event(s) for {case_id}",
        )
        return events

    async def dead_letter_for(self, payload_marker: str) -> dict[str, Any]:
        def find() -> dict[str, Any] | None:
            return next((event for _, event in self.dead if payload_marker in event["data"]["payload"]), None)

        letter: dict[str, Any] = await eventually(find, f"a dead letter with {payload_marker!r}")
        return letter


async def publish(settings: Settings, topic: str, records: list[tuple[str, bytes]]) -> None:
    producer = AIOKafkaProducer(**client_options(settings), enable_idempotence=True, acks="all")
    await producer.start()
    try:
        sends = [await producer.send(topic, value, key=key.encode()) for key, value in records]
        await asyncio.gather(*sends)
    finally:
        await producer.stop()
