"""Shared by intake's real-stack tests: fresh synthetic petitioners, API calls, intake's store (and
scratch copies of it), publishing and reading topics, the `xf intake` command.

Every petitioner is new per call (random identity number, name and phone), so that the tests can run
again on the same stack directory without finding their own earlier cases as same-matter history.
Identity numbers are computed, never real ones.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import date, timedelta
from typing import Any, TypeVar

import asyncpg
import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from kafka_roles import publisher_options

from services.access import registry
from services.access.scopes import Client
from services.common.bounded import Refused, load_json
from services.common.envelope import Envelope, wrap
from services.common.kafka import client_options
from services.common.schemas import Location
from services.common.settings import PROJECT_ROOT, Settings
from services.common.signing import Signer
from services.intake.identity import id_number_check_char
from services.intake.store import open_store

T = TypeVar("T")
_rng = random.Random()
_SURNAMES = "赵钱孙李周吴郑王冯陈褚卫蒋沈韩杨朱秦尤许何吕施张孔曹严华金魏陶姜"
_GIVEN = "甲乙丙丁戊己庚辛壬癸子丑寅卯辰巳午未申酉戌亥"
# Every personal value handed out in this session, for the scans that look for leaks.
PLANTED: set[str] = set()


def fresh_person(region: str = "150627", **overrides: Any) -> dict[str, Any]:
    born = date(1950, 1, 1) + timedelta(days=_rng.randrange(365 * 50))
    first17 = f"{region[:6]}{born:%Y%m%d}{_rng.randrange(1000):03d}"
    person = {
        "kind": "person",
        "name": "测" + _rng.choice(_SURNAMES) + "".join(_rng.choices(_GIVEN, k=2)),
        "id_number": first17 + id_number_check_char(first17),
        "phone": f"139{_rng.randrange(10**8):08d}",
        "address": f"伊金霍洛旗某小区{_rng.randrange(1, 99)}号楼{_rng.randrange(100, 999)}室",
        **overrides,
    }
    PLANTED.update(str(value) for key, value in person.items() if key != "kind")
    return person


def case_body(channel: str = "online", **overrides: Any) -> dict[str, Any]:
    petitioner = overrides.pop("petitioner", None) or fresh_person()
    body: dict[str, Any] = {
        "channel": channel,
        "received_by": "150627:petition",
        "category": "wage_arrears",
        "location": {"region": "150627107", "address": "札萨克镇某工地宿舍"},
        "petitioner": petitioner,
        "people_count": 1,
        "litigation": "none",
        "summary": "某建筑工地拖欠农民工工资约三个月，多次讨要未果。",
        "content": f"{petitioner.get('name', '匿名')}反映工资被拖欠，电话{petitioner.get('phone', '无')}。",
        "received_at": "2026-05-06T09:30:00+08:00",
    }
    if channel == "assignment":
        body["assignment"] = {"from_unit": "150600:petition", "due_days": 30}
    elif channel == "referral":
        body["assignment"] = {"from_unit": "150600:petition"}
    body.update(overrides)
    PLANTED.add(body["content"])
    return body


def new_key() -> str:
    return f"it-{uuid.uuid4()}"


def headers(key: str, idempotency_key: str | None = None) -> dict[str, str]:
    result = {"X-API-Key": key}
    if idempotency_key:
        result["Idempotency-Key"] = idempotency_key
    return result


def http(settings: Settings) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=f"http://{settings.host}:{settings.intake_port}", timeout=30)


@contextlib.asynccontextmanager
async def connected(settings: Settings) -> AsyncIterator[asyncpg.Connection]:
    """A connection to intake's own store, closed after the block."""
    conn: asyncpg.Connection = await asyncpg.connect(settings.dsn, server_settings={"search_path": "intake"})
    try:
        yield conn
    finally:
        await conn.close()


@contextlib.asynccontextmanager
async def scratch_store(settings: Settings, prefix: str, *, max_size: int) -> AsyncIterator[asyncpg.Pool]:
    """A pool on a schema of its own with intake's tables, dropped after the block: for the tests that
    control every row (and run beside the service's own store)."""
    schema = f"{prefix}_{uuid.uuid4().hex[:10]}"
    pool = await open_store(settings.dsn, schema=schema, max_size=max_size)
    try:
        yield pool
    finally:
        await pool.execute(f'DROP SCHEMA "{schema}" CASCADE')
        await pool.close()


def stand_in_events(count: int, keys: Sequence[str] | None = None) -> list[Envelope[Location]]:
    """Small events for the outbox, one per case id: `keys`, or `count` new ones."""
    keys = keys or [f"XFTEST-{uuid.uuid4().hex[:12]}" for _ in range(count)]
    return [wrap(Location(region="150627"), type="test.event", source="test", case_id=key) for key in keys]


async def add_client(settings: Settings, client: Client) -> str:
    """Register a client straight in intake's store (as `xf intake client add` does); returns its key."""
    async with connected(settings) as conn:
        return (await registry.create_client(conn, client, note="integration test")).token


async def case_for_event(settings: Settings, client: str, event_id: str) -> str | None:
    """The case a `case.submitted` event of `client` became, if it did yet (its id is the idempotency key)."""
    async with connected(settings) as conn:
        case_id: str | None = await conn.fetchval(
            "SELECT case_id FROM cases WHERE idempotency_key = $1", f"{client}:{event_id}"
        )
    return case_id


def xf_intake(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """`xf intake ARGS` in a process of its own, with `env` on top of this process's environment."""
    return subprocess.run(
        [sys.executable, "-m", "services.cli", "intake", *args],
        cwd=PROJECT_ROOT,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=60,
    )


def unique_name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


async def read_events(
    settings: Settings,
    topics: tuple[str, ...],
    *,
    until: Callable[[list[dict[str, Any]]], bool] | None = None,
    keep: Callable[[dict[str, Any]], bool] = lambda event: True,
    timeout: float = 30.0,
    idle: float = 3.0,
) -> list[dict[str, Any]]:
    """The events of `topics`, from the beginning, that `keep` accepts. With `until`: as soon as
    `until(kept)` holds, else (all of them) once the topics have been quiet for `idle` seconds."""
    consumer = AIOKafkaConsumer(
        *topics, **client_options(settings), auto_offset_reset="earliest", enable_auto_commit=False
    )
    await consumer.start()
    kept: list[dict[str, Any]] = []
    try:
        deadline = time.monotonic() + timeout
        last_seen = time.monotonic()
        while time.monotonic() < deadline:
            batches = await consumer.getmany(timeout_ms=500, max_records=5000)
            for record in (record for batch in batches.values() for record in batch):
                last_seen = time.monotonic()
                try:  # other tests leave poison on the topics (tests/support/poison.py)
                    event = load_json(record.value or b"null")
                except Refused:
                    continue
                if isinstance(event, dict):
                    event["_topic"] = record.topic
                    if keep(event):
                        kept.append(event)
            if until is not None and until(kept):
                return kept
            if until is None and time.monotonic() - last_seen > idle:
                return kept
        if until is not None:
            raise AssertionError(f"waited {timeout}s on {list(topics)}; kept {len(kept)} events")
        return kept
    finally:
        await consumer.stop()


async def publish_raw(
    settings: Settings, topic: str, messages: Sequence[tuple[bytes, bytes]], signer: Signer | None = None
) -> None:
    """The (key, value) messages on `topic`, one after the other, as the part that writes `topic`; signed
    by `signer` if given (the signed id is the value's envelope `id`)."""
    producer = AIOKafkaProducer(**publisher_options(settings, topic), enable_idempotence=True)
    await producer.start()
    try:
        for key, value in messages:
            headers = None
            if signer is not None:
                event_id = json.loads(value)["id"]
                headers = [("ce-id", event_id.encode())]
                headers += [(name, text.encode()) for name, text in signer.headers(event_id, value).items()]
            await producer.send_and_wait(topic, value, key=key, headers=headers)
    finally:
        await producer.stop()


def dev_signer(settings: Settings) -> Signer:
    return Signer(registry.DEV_CLIENT, settings.intake_dev_signing_key)


async def publish_submitted(settings: Settings, events: list[dict[str, Any]], signer: Signer | None = None) -> None:
    """`case.submitted` events, signed by the development client unless another signer is given."""
    await publish_raw(
        settings,
        "case.submitted",
        [(event["id"].encode(), json.dumps(event).encode()) for event in events],
        signer or dev_signer(settings),
    )


async def signing_key(settings: Settings, name: str) -> Signer:
    """A new signing key for the client `name` (as `xf intake client signing-key add` gives one)."""
    async with connected(settings) as conn:
        return Signer(name, await registry.new_signing_key(conn, name))


def submitted_event(
    data: dict[str, Any], *, source: str = "it/upstream", event_id: str | None = None
) -> dict[str, Any]:
    return {
        "specversion": "1.0",
        "id": event_id or str(uuid.uuid4()),
        "type": "case.submitted",
        "source": source,
        "time": "2026-05-06T09:30:00+08:00",
        "caseid": "unassigned",
        "data": data,
    }
