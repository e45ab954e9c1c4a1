"""Retention of the transactional outbox: published events are purged once they are old enough.

A row is published once Kafka acknowledged it (outbox.py); afterwards it is only kept for operators
(what went out, when, after how many attempts). Rows published longer ago than the retention period
(`XF_INTAKE_OUTBOX_RETENTION_HOURS`, 7 days) are deleted oldest first, in batches of bounded size, one
transaction each. A row not yet published is never deleted, however old: it is a case on its way to
Kafka. Every intake process purges every `XF_INTAKE_OUTBOX_PURGE_INTERVAL` seconds; a batch claims
its rows with `FOR UPDATE SKIP LOCKED`, so processes purging at once take different rows and never
wait on each other, and the relay (which only touches unpublished rows) never meets the purge.

What reads published rows: only the status answer (GET /v1/cases/{id} `published_at`, through the
`outbox_by_key` index). So the purge copies the publication time of each `case.received` it deletes
into `received_sent`, in the same statement, and the status answer falls back on it
(store.case_view). Idempotency and same-matter history read `cases`, never the outbox; the relay and
the backlog gauges read unpublished rows only.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import asyncpg
from prometheus_client import Counter, Gauge

from services.common.runtime import every
from services.common.settings import Settings
from services.common.topics import CASE_RECEIVED

log = logging.getLogger("xf.intake.outbox")

PURGED = Counter("xf_intake_outbox_purged_total", "Published outbox events deleted after the retention period")
PUBLISHED_KEPT = Gauge(
    "xf_intake_outbox_published_kept", "Published outbox events kept until the retention period has passed"
)
OLDEST_PUBLISHED_AGE = Gauge(
    "xf_intake_outbox_oldest_published_age_seconds", "Time since the oldest kept outbox event was published"
)
RETENTION = Gauge("xf_intake_outbox_retention_seconds", "How long published outbox events are kept")


@dataclass(frozen=True)
class Retention:
    """How long published events are kept, how often the purge runs, how many rows one batch deletes."""

    seconds: float
    interval: float
    batch: int

    @classmethod
    def from_settings(cls, settings: Settings) -> Retention:
        return cls(
            seconds=settings.intake_outbox_retention_hours * 3600.0,
            interval=settings.intake_outbox_purge_interval,
            batch=settings.intake_outbox_purge_batch,
        )


@dataclass(frozen=True)
class OutboxStatus:
    pending: int
    oldest_pending_age: float | None  # seconds; None when nothing is pending
    published: int
    oldest_published_age: float | None  # seconds since the oldest kept row was published
    past_retention: int  # published rows the next purge deletes


# Oldest first (the published_at index), claimed without waiting; the case.received publication
# times are kept before the rows go. One statement, so one transaction and one round trip.
_PURGE_BATCH = """
    WITH doomed AS (
        SELECT id, topic, key, published_at FROM outbox
        WHERE published_at < now() - make_interval(secs => $1)
        ORDER BY published_at
        LIMIT $2
        FOR UPDATE SKIP LOCKED
    ), kept AS (
        INSERT INTO received_sent (case_id, published_at)
        SELECT key, min(published_at) FROM doomed WHERE topic = $3 GROUP BY key
        ON CONFLICT (case_id) DO NOTHING
    ), gone AS (
        DELETE FROM outbox o USING doomed d WHERE o.id = d.id RETURNING 1
    )
    SELECT count(*) FROM gone"""


async def purge_batch(pool: asyncpg.Pool, retention: Retention) -> int:
    """Delete up to `retention.batch` published rows older than the retention; returns how many."""
    purged = int(await pool.fetchval(_PURGE_BATCH, retention.seconds, retention.batch, CASE_RECEIVED.name))
    PURGED.inc(purged)
    return purged


async def drain(batch: Callable[[], Awaitable[int]], size: int) -> int:
    """Run `batch()` until one handles fewer than `size` rows (nothing left, or the rest is claimed by
    another process); returns the total."""
    total = 0
    while True:
        done = await batch()
        total += done
        if done < size:
            return total


async def purge(pool: asyncpg.Pool, retention: Retention) -> int:
    """Every published row older than the retention, batch by batch; returns how many were deleted."""
    return await drain(lambda: purge_batch(pool, retention), retention.batch)


async def outbox_status(pool: asyncpg.Pool, retention: Retention) -> OutboxStatus:
    """One query; the published figures come from the `outbox_published` index."""
    row = await pool.fetchrow(
        """SELECT
             (SELECT count(*) FROM outbox WHERE published_at IS NULL) AS pending,
             (SELECT extract(epoch FROM now() - min(created_at))::float8 FROM outbox WHERE published_at IS NULL)
                 AS oldest_pending_age,
             (SELECT count(*) FROM outbox WHERE published_at IS NOT NULL) AS published,
             (SELECT extract(epoch FROM now() - min(published_at))::float8 FROM outbox
              WHERE published_at IS NOT NULL) AS oldest_published_age,
             (SELECT count(*) FROM outbox WHERE published_at < now() - make_interval(secs => $1))
                 AS past_retention""",
        retention.seconds,
    )
    assert row is not None
    return OutboxStatus(
        pending=int(row["pending"]),
        oldest_pending_age=_seconds(row["oldest_pending_age"]),
        published=int(row["published"]),
        oldest_published_age=_seconds(row["oldest_published_age"]),
        past_retention=int(row["past_retention"]),
    )


def _seconds(value: float | None) -> float | None:
    return None if value is None else max(0.0, value)


def export(status: OutboxStatus, retention: Retention) -> None:
    PUBLISHED_KEPT.set(status.published)
    OLDEST_PUBLISHED_AGE.set(status.oldest_published_age or 0.0)
    RETENTION.set(retention.seconds)


async def run_purge(pool: asyncpg.Pool, retention: Retention) -> None:
    """Purge, then refresh the gauges, every `retention.interval` seconds (first right away), forever.
    A failed purge is logged and retried at the next round (the rows wait, nothing is lost); the gauges
    are refreshed all the same, so that the oldest published event is seen ageing (XfOutboxNotPurged)."""
    RETENTION.set(retention.seconds)

    async def purge_then_measure() -> None:
        try:
            purged = await purge(pool, retention)
            if purged:
                log.info("outbox: purged %d published event(s) older than %s", purged, duration(retention.seconds))
        except Exception as error:  # the gauges are refreshed all the same
            log.warning("outbox purge failed, retrying in %.0fs: %s", retention.interval, error)
        export(await outbox_status(pool, retention), retention)

    await every(retention.interval, purge_then_measure, log, "outbox status measurement")


def duration(seconds: float) -> str:
    """A short human duration: 45s, 12m 5s, 3h 20m, 7d, 6d 23h."""
    whole = int(seconds)
    days, rest = divmod(whole, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [(days, "d"), (hours, "h"), (minutes, "m"), (secs, "s")]
    first = next((i for i, (value, _) in enumerate(parts) if value), len(parts) - 1)
    shown = [f"{value}{unit}" for value, unit in parts[first : first + 2] if value]
    return " ".join(shown) or "0s"


def describe(status: OutboxStatus, retention: Retention) -> list[str]:
    """The operator's view of the outbox (`xf intake outbox`), one line per figure."""

    def oldest(age: float | None, what: str) -> str:
        return "" if age is None else f", oldest {what} {duration(age)} ago"

    return [
        f"pending:    {status.pending}{oldest(status.oldest_pending_age, 'written')}",
        f"published:  {status.published}{oldest(status.oldest_published_age, 'published')}"
        f", {status.past_retention} past the retention",
        f"retention:  {duration(retention.seconds)} after publication; purged every {duration(retention.interval)}"
        f" in batches of {retention.batch}",
    ]
