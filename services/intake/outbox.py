"""The transactional outbox: events written in the same transaction as the case, relayed to Kafka.

An accepted case is therefore durable before the HTTP answer, and reaches Kafka once Kafka is
reachable. Several relays may run at once: `FOR UPDATE SKIP LOCKED` gives each its own rows.
Delivery is at least once; consumers de-duplicate by event id.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import asyncpg
from faststream.kafka import KafkaBroker
from prometheus_client import Counter, Gauge

from services.common.db import Conn
from services.common.envelope import Envelope, to_bytes
from services.common.kafka import JSON_HEADERS

log = logging.getLogger("xf.intake.outbox")

NOTIFY_CHANNEL = "xf_outbox"
RELAYED = Counter("xf_intake_outbox_relayed_total", "Events relayed from the outbox to Kafka")
RELAY_ERRORS = Counter("xf_intake_outbox_relay_errors_total", "Failed attempts to relay outbox events")
BACKLOG = Gauge("xf_intake_outbox_backlog", "Outbox events not yet relayed")
OLDEST_AGE = Gauge("xf_intake_outbox_oldest_age_seconds", "Age of the oldest event not yet relayed")


async def enqueue(conn: Conn, topic: str, envelope: Envelope[Any]) -> None:
    """Add an event to the outbox; call inside the transaction that stores what it announces."""
    await conn.execute(
        "INSERT INTO outbox (event_id, topic, key, payload) VALUES ($1, $2, $3, $4)",
        envelope.id,
        topic,
        envelope.caseid,
        to_bytes(envelope),
    )
    await conn.execute(f"NOTIFY {NOTIFY_CHANNEL}")


async def relay_once(pool: asyncpg.Pool, broker: KafkaBroker, *, limit: int = 200) -> int:
    """Publish up to `limit` pending events; returns how many were published."""
    async with pool.acquire() as conn, conn.transaction():
        rows = await conn.fetch(
            """SELECT id, topic, key, payload FROM outbox WHERE published_at IS NULL
               ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED""",
            limit,
        )
        if not rows:
            return 0
        try:
            await asyncio.gather(
                *(
                    broker.publish(
                        bytes(row["payload"]), topic=row["topic"], key=row["key"].encode(), headers=JSON_HEADERS
                    )
                    for row in rows
                )
            )
        except Exception as error:
            RELAY_ERRORS.inc()
            async with pool.acquire() as other:
                await other.execute(
                    "UPDATE outbox SET attempts = attempts + 1, last_error = $2 WHERE id = ANY($1)",
                    [row["id"] for row in rows],
                    f"{type(error).__name__}: {error}"[:500],
                )
            raise
        await conn.execute(
            "UPDATE outbox SET published_at = now(), attempts = attempts + 1 WHERE id = ANY($1)",
            [row["id"] for row in rows],
        )
    RELAYED.inc(len(rows))
    return len(rows)


async def measure_backlog(pool: asyncpg.Pool) -> tuple[int, float]:
    row = await pool.fetchrow(
        """SELECT count(*) AS n, coalesce(extract(epoch FROM now() - min(created_at)), 0) AS age
           FROM outbox WHERE published_at IS NULL"""
    )
    assert row is not None
    BACKLOG.set(row["n"])
    OLDEST_AGE.set(float(row["age"]))
    return int(row["n"]), float(row["age"])


async def run_relay(pool: asyncpg.Pool, broker: KafkaBroker, *, idle_poll: float = 1.0) -> None:
    """Relay forever: wake on NOTIFY or every `idle_poll` seconds; back off while Kafka fails."""
    wake = asyncio.Event()

    def on_notify(*_: object) -> None:
        wake.set()

    listener = await pool.acquire()
    await listener.add_listener(NOTIFY_CHANNEL, on_notify)
    backoff = 0.5
    try:
        while True:
            try:
                published = await relay_once(pool, broker)
                backoff = 0.5
            except Exception as error:
                log.warning("outbox relay failed, retrying in %.1fs: %s", backoff, error)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 30.0)
                continue
            if published:
                continue
            await measure_backlog(pool)
            wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), timeout=idle_poll)
    finally:
        await listener.remove_listener(NOTIFY_CHANNEL, on_notify)
        await pool.release(listener)

