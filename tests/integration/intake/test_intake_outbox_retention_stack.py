"""The outbox's retention on the real PostgreSQL: what the purge deletes and what it never deletes, in
bounded batches, several purgers (and a relay) at once, the case.received publication times it keeps
for the status answer, the periodic task; then `xf intake outbox` and the running intake service.

Most tests work in a scratch schema of their own (as the relay's tests do), so that they control every
row's age; the last ones use intake's own store through the running service and the command."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import subprocess
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from datetime import datetime

import asyncpg
import pytest
from intake_helpers import case_body, connected, headers, http, new_key, scratch_store, stand_in_events, xf_intake
from polling import eventually
from prometheus_client import REGISTRY

from services.common.db import Conn
from services.common.settings import Settings
from services.intake import store
from services.intake.outbox import enqueue_many, relay_once
from services.intake.outbox_retention import Retention, outbox_status, purge, purge_batch, run_purge

DAY = 86400.0
WEEK = Retention(seconds=7 * DAY, interval=300.0, batch=1000)


@pytest.fixture
async def scratch(intake_stack: Settings) -> AsyncIterator[asyncpg.Pool]:
    async with scratch_store(intake_stack, "retention", max_size=8) as pool:
        yield pool


async def add_events(
    pool: asyncpg.Pool,
    count: int,
    *,
    written_days_ago: float = 0.0,
    published_days_ago: float | None = None,
    topic: str = "case.received",
    keys: list[str] | None = None,
) -> list[str]:
    """`count` outbox rows written `written_days_ago`, published `published_days_ago` (None: pending);
    returns their event ids."""
    envelopes = stand_in_events(count, keys)
    async with pool.acquire() as conn, conn.transaction():
        await enqueue_many(conn, topic, envelopes)
        await conn.execute(
            """UPDATE outbox SET created_at = now() - make_interval(secs => $2),
                                 published_at = now() - make_interval(secs => $3)
               WHERE event_id = ANY($1::text[])""",
            [e.id for e in envelopes],
            written_days_ago * DAY,
            None if published_days_ago is None else published_days_ago * DAY,
        )
    return [e.id for e in envelopes]


async def event_ids(pool: asyncpg.Pool) -> set[str]:
    return {row["event_id"] for row in await pool.fetch("SELECT event_id FROM outbox")}


async def test_only_published_events_past_the_retention_are_purged(scratch: asyncpg.Pool) -> None:
    old_published = await add_events(scratch, 30, written_days_ago=30, published_days_ago=8)
    recent_published = await add_events(scratch, 20, written_days_ago=30, published_days_ago=6.9)
    ancient_pending = await add_events(scratch, 5, written_days_ago=400)
    new_pending = await add_events(scratch, 5)

    before = await outbox_status(scratch, WEEK)
    assert (before.pending, before.published, before.past_retention) == (10, 50, 30)
    assert before.oldest_pending_age is not None and before.oldest_pending_age > 399 * DAY
    assert before.oldest_published_age is not None and 8 * DAY <= before.oldest_published_age < 8.1 * DAY

    assert await purge(scratch, WEEK) == 30
    assert await event_ids(scratch) == {*recent_published, *ancient_pending, *new_pending}
    assert not set(old_published) & await event_ids(scratch)
    assert await purge(scratch, WEEK) == 0  # nothing more is due

    after = await outbox_status(scratch, WEEK)
    assert (after.pending, after.published, after.past_retention) == (10, 20, 0)
    assert after.oldest_published_age is not None and after.oldest_published_age < 7 * DAY


async def test_a_pending_event_is_kept_until_published_then_for_the_retention_after_that(
    scratch: asyncpg.Pool,
) -> None:
    """Age counts from publication: a case that waited a month for Kafka is kept a week once sent."""
    (late,) = await add_events(scratch, 1, written_days_ago=30)
    assert await purge(scratch, WEEK) == 0

    async def publish(topic: str, key: str, event_id: str, payload: bytes) -> None:
        pass

    assert await relay_once(scratch, publish) == 1
    assert await purge(scratch, WEEK) == 0
    assert await event_ids(scratch) == {late}
    assert await purge(scratch, Retention(seconds=0.001, interval=1.0, batch=10)) == 1


async def test_batches_are_bounded_and_oldest_first(scratch: asyncpg.Pool) -> None:
    await add_events(scratch, 70, published_days_ago=20)
    youngest_due = await add_events(scratch, 50, published_days_ago=10)
    small = Retention(seconds=7 * DAY, interval=300.0, batch=50)
    assert await purge_batch(scratch, small) == 50
    assert await purge_batch(scratch, small) == 50
    # The 20-day-old events went first: what is left of the due ones is 10 days old.
    assert await event_ids(scratch) <= set(youngest_due)
    assert await purge_batch(scratch, small) == 20
    assert await purge_batch(scratch, small) == 0


async def test_several_purgers_and_a_relay_at_once_each_row_goes_once(scratch: asyncpg.Pool) -> None:
    due = await add_events(scratch, 1200, published_days_ago=9)
    kept = await add_events(scratch, 100, published_days_ago=1)
    pending = await add_events(scratch, 300, written_days_ago=10)
    sent: Counter[str] = Counter()

    async def publish(topic: str, key: str, event_id: str, payload: bytes) -> None:
        sent[event_id] += 1

    async def relay() -> None:
        while await relay_once(scratch, publish, limit=40):
            pass

    small = Retention(seconds=7 * DAY, interval=300.0, batch=37)
    *counts, _ = await asyncio.gather(*(purge(scratch, small) for _ in range(5)), relay())
    assert sum(counts) == len(due), counts
    assert len([count for count in counts if count]) > 1, "the purgers shared the work"
    assert set(sent) == set(pending) and set(sent.values()) == {1}
    assert await event_ids(scratch) == {*kept, *pending}


async def case_row(conn: Conn, case_id: str) -> None:
    await conn.execute(
        """INSERT INTO cases (case_id, request_hash, client, received_at, channel, received_by, category, region,
                              people_count, litigation, summary, petitioner_key, matter_key)
           VALUES ($1, 'h', 'test', now(), 'letter', '150627:petition', 'wage_arrears', '150627', 1, 'none',
                   's', 'p', 'm')""",
        case_id,
    )


async def test_the_status_answer_keeps_when_case_received_went_out(scratch: asyncpg.Pool) -> None:
    case_id = f"XFTEST-{uuid.uuid4().hex[:12]}"
    other = f"XFTEST-{uuid.uuid4().hex[:12]}"
    async with scratch.acquire() as conn:
        await case_row(conn, case_id)
    await add_events(scratch, 1, published_days_ago=10, keys=[case_id])
    await add_events(scratch, 1, published_days_ago=10, keys=[other], topic="case.other")
    async with scratch.acquire() as conn:
        view = await store.case_view(conn, case_id)
        assert view is not None
        sent_at: datetime = view["published_at"]
        assert sent_at is not None

        assert await purge(scratch, WEEK) == 2
        assert await conn.fetchval("SELECT count(*) FROM outbox") == 0
        view = await store.case_view(conn, case_id)
        assert view is not None and view["published_at"] == sent_at
        # Only case.received times are kept, one row per case.
        kept = await conn.fetch("SELECT case_id, published_at FROM received_sent")
        assert [(row["case_id"], row["published_at"]) for row in kept] == [(case_id, sent_at)]


async def test_the_periodic_purge_runs_refreshes_its_gauges_and_outlives_a_failed_round(
    scratch: asyncpg.Pool, caplog: pytest.LogCaptureFixture
) -> None:
    quick = Retention(seconds=7 * DAY, interval=0.2, batch=100)
    await add_events(scratch, 3, published_days_ago=1)
    await scratch.execute("ALTER TABLE received_sent RENAME TO received_sent_away")  # every round fails
    task = asyncio.create_task(run_purge(scratch, quick))
    try:
        with caplog.at_level(logging.WARNING, logger="xf.intake.outbox"):
            await add_events(scratch, 250, published_days_ago=10)
            await eventually(lambda: _logged(caplog, "outbox purge failed"), timeout=10, what="a failed round logged")
        assert await scratch.fetchval("SELECT count(*) FROM outbox") == 253  # nothing lost to the failure

        async def measured_while_failing() -> bool:
            return REGISTRY.get_sample_value("xf_intake_outbox_published_kept") == 253

        # The gauges go on while the purge fails: the alert sees the oldest event age.
        await eventually(measured_while_failing, timeout=10, what="the kept-events gauge at 253")
        age = REGISTRY.get_sample_value("xf_intake_outbox_oldest_published_age_seconds")
        assert age is not None and age >= 10 * DAY
        await scratch.execute("ALTER TABLE received_sent_away RENAME TO received_sent")

        async def purged() -> bool:
            return await scratch.fetchval("SELECT count(*) FROM outbox") == 3

        await eventually(purged, timeout=10, what="the due events purged by the periodic task")

        async def measured() -> bool:
            return REGISTRY.get_sample_value("xf_intake_outbox_published_kept") == 3

        await eventually(measured, timeout=10, what="the kept-events gauge at 3")
        age = REGISTRY.get_sample_value("xf_intake_outbox_oldest_published_age_seconds")
        assert age is not None and DAY <= age < 1.1 * DAY
        assert REGISTRY.get_sample_value("xf_intake_outbox_retention_seconds") == 7 * DAY
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def _logged(caplog: pytest.LogCaptureFixture, text: str) -> bool:
    return any(text in record.getMessage() for record in caplog.records)


# --- intake's own store: the command and the running service -----------------------------------------


def xf_outbox(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return xf_intake("outbox", *args, env=env)


async def test_xf_intake_outbox_shows_the_status_and_purges_keeping_the_case_status(intake_stack: Settings) -> None:
    settings = intake_stack
    async with http(settings) as client:
        answer = await client.post(
            "/v1/cases", json=case_body("letter"), headers=headers(settings.intake_dev_api_key, new_key())
        )
        assert answer.status_code == 201, answer.text
        case_id = answer.json()["case_id"]

        async def sent() -> bool:
            view = await client.get(f"/v1/cases/{case_id}", headers=headers(settings.intake_dev_api_key))
            return view.json()["published_at"] is not None

        await eventually(sent, what="case.received published")

    # Published 100 hours ago: inside the service's retention (7 days), so only the command purges it,
    # run with a retention of 99 hours.
    async with connected(settings) as conn:
        published_at = await conn.fetchval(
            """UPDATE outbox SET published_at = date_trunc('second', now()) - interval '100 hours'
               WHERE key = $1 AND topic = 'case.received' RETURNING published_at""",
            case_id,
        )
        assert published_at is not None

    shown = xf_outbox()
    assert shown.returncode == 0, shown.stderr
    assert re.search(r"^pending: +\d+", shown.stdout, re.MULTILINE)
    assert re.search(r"^published: +[1-9]\d*, oldest published \d", shown.stdout, re.MULTILINE)
    assert "retention:  7d after publication; purged every 5m in batches of 1000" in shown.stdout

    status = json.loads(xf_outbox("--json").stdout)
    assert status["published"] >= 1 and status["purged"] is None
    assert status["oldest_published_age"] >= 100 * 3600
    assert status["retention_seconds"] == 7 * DAY

    purged = xf_outbox("--purge", "--json", env={"XF_INTAKE_OUTBOX_RETENTION_HOURS": "99"})
    assert purged.returncode == 0, purged.stderr
    after = json.loads(purged.stdout)
    assert after["purged"] >= 1 and after["past_retention"] == 0 and after["retention_seconds"] == 99 * 3600

    async with connected(settings) as conn:
        assert await conn.fetchval("SELECT count(*) FROM outbox WHERE key = $1", case_id) == 0
    async with http(settings) as client:
        view = await client.get(f"/v1/cases/{case_id}", headers=headers(settings.intake_dev_api_key))
    assert view.status_code == 200
    assert datetime.fromisoformat(view.json()["published_at"]) == published_at

    text = xf_outbox("--purge", env={"XF_INTAKE_OUTBOX_RETENTION_HOURS": "99"})
    assert text.returncode == 0 and text.stdout.startswith("purged:     0\n"), text.stdout


async def test_the_running_service_runs_the_purge_and_exports_its_metrics(intake_stack: Settings) -> None:
    async with http(intake_stack) as client:

        async def exported() -> dict[str, float] | None:
            text = (await client.get("/metrics")).text
            found = dict(re.findall(r"^(xf_intake_outbox_\w+) (\S+)$", text, re.MULTILINE))
            wanted = ("retention_seconds", "published_kept", "oldest_published_age_seconds", "purged_total")
            if not all(f"xf_intake_outbox_{name}" in found for name in wanted):
                return None
            return {name: float(value) for name, value in found.items()}

        metrics = await eventually(exported, what="the outbox retention metrics")
    # Zero until the service's purge task sets it (at its start): the task runs, with the settings' retention.
    assert metrics["xf_intake_outbox_retention_seconds"] == 7 * DAY
