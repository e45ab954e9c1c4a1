"""The transactional outbox: events written in the same transaction as the case, relayed to Kafka.

An accepted case is therefore durable before the HTTP answer, and reaches Kafka once Kafka is
reachable. Several relays may run at once (one per intake process): `FOR UPDATE SKIP LOCKED` gives
each its own rows, and a row is marked published only after Kafka acknowledged it.

Delivery is at least once. The producer is idempotent (services/common/kafka.py), so its own
retries during a broker restart do not duplicate; the relay never gives up on a send itself (no
timeout shorter than the producer's), because an abandoned send may still be delivered later and
its retry would then be a second copy. A row is sent again only when the producer reported failure,
and only that row: a batch that partly failed marks its delivered rows. Consumers de-duplicate by
event id all the same (a broker that dies between writing and acknowledging can cause a copy).

Published rows are deleted after a retention period (outbox_retention.py); unpublished ones never.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from functools import partial
from typing import Any, Protocol

import asyncpg
from faststream.kafka import KafkaBroker
from prometheus_client import Counter, Gauge

from services.common.db import Conn
from services.common.envelope import Envelope, to_bytes
from services.common.kafka import JSON_HEADERS
from services.common.runtime import every

log = logging.getLogger("xf.intake.outbox")

NOTIFY_CHANNEL = "xf_outbox"
RELAYED = Counter("xf_intake_outbox_relayed_total", "Events relayed from the outbox to Kafka")
RELAY_ERRORS = Counter("xf_intake_outbox_relay_errors_total", "Outbox events that Kafka did not take (retried)")
BACKLOG = Gauge("xf_intake_outbox_backlog", "Outbox events not yet relayed")
OLDEST_AGE = Gauge("xf_intake_outbox_oldest_age_seconds", "Age of the oldest event not yet relayed")


class Publish(Protocol):
    async def __call__(self, topic: str, key: str, event_id: str, payload: bytes) -> None: ...


class RelayFailed(Exception):
    pass


def broker_publisher(broker: KafkaBroker) -> Publish:
    async def publish(topic: str, key: str, event_id: str, payload: bytes) -> None:
        await broker.publish(payload, topic=topic, key=key.encode(), headers={**JSON_HEADERS, "ce-id": event_id})

    return publish


# Sent after the writing transaction committed, not inside it: PostgreSQL serialises the commits of
# transactions that notify (a global lock held through the WAL flush), which would queue every intake
# request behind one another. A wake-up lost to a crash right after commit only waits for the next poll.
WAKE_RELAYS = f"NOTIFY {NOTIFY_CHANNEL}"


def outbox_row(topic: str, envelope: Envelope[Any]) -> tuple[str, str, str, bytes]:
    """(event_id, topic, key, payload): one outbox row, written in the transaction of what it announces."""
    return envelope.id, topic, envelope.caseid, to_bytes(envelope)


async def enqueue_many(conn: Conn, topic: str, envelopes: Sequence[Envelope[Any]]) -> None:
    """Add events to the outbox inside the caller's transaction; `wake_relays` after it committed."""
    if envelopes:
        await conn.executemany(
            "INSERT INTO outbox (event_id, topic, key, payload) VALUES ($1, $2, $3, $4)",
            [outbox_row(topic, envelope) for envelope in envelopes],
        )


async def wake_relays(conn: Conn) -> None:
    await conn.execute(WAKE_RELAYS)


async def relay_once(pool: asyncpg.Pool, publish: Publish, *, limit: int = 500) -> int:
    """Publish up to `limit` pending events; returns how many Kafka took. `RelayFailed` when some
    were refused (they stay pending, with the error recorded)."""
    async with pool.acquire() as conn, conn.transaction():
        rows = await conn.fetch(
            """SELECT id, topic, key, event_id, payload FROM outbox WHERE published_at IS NULL
               ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED""",
            limit,
        )
        if not rows:
            return 0
        results = await asyncio.gather(
            *(publish(row["topic"], row["key"], row["event_id"], bytes(row["payload"])) for row in rows),
            return_exceptions=True,
        )
        done = [row["id"] for row, result in zip(rows, results, strict=True) if not isinstance(result, BaseException)]
        failed = [
            (row["id"], result) for row, result in zip(rows, results, strict=True) if isinstance(result, BaseException)
        ]
        if done:
            await conn.execute(
                "UPDATE outbox SET published_at = now(), attempts = attempts + 1 WHERE id = ANY($1::bigint[])", done
            )
        if failed:
            error = failed[0][1]
            await conn.execute(
                "UPDATE outbox SET attempts = attempts + 1, last_error = $2 WHERE id = ANY($1::bigint[])",
                [row_id for row_id, _ in failed],
                f"{type(error).__name__}: {error}"[:500],
            )
    RELAYED.inc(len(done))
    if failed:
        RELAY_ERRORS.inc(len(failed))
        raise RelayFailed(f"{len(failed)} of {len(rows)} events not taken: {type(error).__name__}: {error}")
    return len(done)


async def measure_backlog(pool: asyncpg.Pool) -> tuple[int, float]:
    row = await pool.fetchrow(
        """SELECT count(*) AS n, coalesce(extract(epoch FROM now() - min(created_at)), 0) AS age
           FROM outbox WHERE published_at IS NULL"""
    )
    assert row is not None
    BACKLOG.set(row["n"])
    OLDEST_AGE.set(float(row["age"]))
    return int(row["n"]), float(row["age"])


async def watch_backlog(pool: asyncpg.Pool, *, interval: float = 2.0) -> None:
    """Keep the backlog gauges fresh, also (above all) while the relay is stuck on a Kafka outage."""
    await every(interval, partial(measure_backlog, pool), log, "outbox backlog measurement")


async def run_relay(
    pool: asyncpg.Pool, publish: Publish, *, idle_poll: float = 1.0, linger: float = 0.05, limit: int = 500
) -> None:
    """Relay forever: wake on NOTIFY or every `idle_poll` seconds; back off while Kafka fails.

    After a wake-up it lingers (50 ms) so that the events of concurrent requests go out in one round
    (one transaction, one produce batch) instead of one round each: a round costs several round trips.
    """
    wake = asyncio.Event()

    def on_notify(*_: object) -> None:
        wake.set()

    listener = await pool.acquire()
    await listener.add_listener(NOTIFY_CHANNEL, on_notify)
    backoff = 0.5
    try:
        while True:
            wake.clear()
            try:
                published = await relay_once(pool, publish, limit=limit)
                backoff = 0.5
            except Exception as error:
                log.warning("outbox relay failed, retrying in %.1fs: %s", backoff, error)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 30.0)
                continue
            if published == limit:
                continue  # more may be waiting
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), timeout=idle_poll)
            await asyncio.sleep(linger)
    finally:
        await listener.remove_listener(NOTIFY_CHANNEL, on_notify)
        await pool.release(listener)
