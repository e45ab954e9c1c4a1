"""The outbox relay on the real PostgreSQL (in a scratch schema of its own), with a stand-in for Kafka:
several relays share the work without sending anything twice, a partly failed batch resends only
what failed, and a NOTIFY wakes an idle relay."""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import AsyncIterator

import asyncpg
import pytest
from intake_helpers import scratch_store, stand_in_events

from services.common.settings import Settings
from services.intake.outbox import Publish, RelayFailed, enqueue_many, relay_once, run_relay, wake_relays


@pytest.fixture
async def scratch(intake_stack: Settings) -> AsyncIterator[asyncpg.Pool]:
    async with scratch_store(intake_stack, "relay", max_size=6) as pool:
        yield pool


async def fill(pool: asyncpg.Pool, count: int) -> list[str]:
    envelopes = stand_in_events(count)
    async with pool.acquire() as conn:
        async with conn.transaction():
            await enqueue_many(conn, "case.received", envelopes)
        await wake_relays(conn)
    return [envelope.id for envelope in envelopes]


async def test_several_relays_share_the_outbox_and_send_each_event_once(scratch: asyncpg.Pool) -> None:
    wanted = await fill(scratch, 600)
    sent: Counter[str] = Counter()
    by_relay: dict[int, int] = {}

    def publisher(relay: int) -> Publish:
        async def publish(topic: str, key: str, event_id: str, payload: bytes) -> None:
            await asyncio.sleep(0.001)  # a slow broker keeps each relay's rows locked for a while
            sent[event_id] += 1
            by_relay[relay] = by_relay.get(relay, 0) + 1

        return publish

    async def drain(relay: int) -> None:
        while await relay_once(scratch, publisher(relay), limit=50):
            pass

    await asyncio.gather(*(drain(relay) for relay in range(4)))
    assert set(sent) == set(wanted) and set(sent.values()) == {1}
    assert len(by_relay) > 1, "the other relays skipped the locked rows and took their own"
    assert await scratch.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL") == 0


async def test_a_partly_failed_batch_resends_only_what_failed(scratch: asyncpg.Pool) -> None:
    wanted = await fill(scratch, 10)
    refused = set(wanted[::3])
    sent: Counter[str] = Counter()

    async def flaky(topic: str, key: str, event_id: str, payload: bytes) -> None:
        if event_id in refused:
            raise ConnectionError("broker went away")
        sent[event_id] += 1

    with pytest.raises(RelayFailed, match="4 of 10"):
        await relay_once(scratch, flaky)
    rows = await scratch.fetch("SELECT event_id, published_at, attempts, last_error FROM outbox")
    assert {row["event_id"] for row in rows if row["published_at"] is None} == refused
    assert all(row["attempts"] == 1 for row in rows)
    assert all("ConnectionError" in row["last_error"] for row in rows if row["event_id"] in refused)

    refused.clear()
    assert await relay_once(scratch, flaky) == 4
    assert set(sent) == set(wanted) and set(sent.values()) == {1}


async def test_an_idle_relay_wakes_on_notify(scratch: asyncpg.Pool) -> None:
    arrived = asyncio.Event()

    async def publish(topic: str, key: str, event_id: str, payload: bytes) -> None:
        arrived.set()

    relay = asyncio.create_task(run_relay(scratch, publish, idle_poll=60))
    try:
        await asyncio.sleep(0.5)
        await fill(scratch, 1)
        await asyncio.wait_for(arrived.wait(), timeout=5)
    finally:
        relay.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await relay
