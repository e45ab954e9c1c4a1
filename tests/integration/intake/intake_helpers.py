"""Shared by intake's real-stack tests: fresh synthetic petitioners, API calls, reading topics.

Every petitioner is new per call (random identity number, name and phone), so that the tests can run
again on the same stack directory without finding their own earlier cases as same-matter history.
Identity numbers are computed, never real ones.
"""

from __future__ import annotations

import json
import random
import time
import uuid
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any, TypeVar

import asyncpg
import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from services.common.settings import Settings
from services.intake import clients
from services.intake.auth import Client
from services.intake.identity import id_number_check_char

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


async def connect(settings: Settings) -> asyncpg.Connection:
    conn: asyncpg.Connection = await asyncpg.connect(settings.dsn, server_settings={"search_path": "intake"})
    return conn


async def add_client(settings: Settings, client: Client) -> str:
    """Register a client straight in intake's store (as `xf intake client add` does); returns its key."""
    conn = await connect(settings)
    try:
        return (await clients.create_client(conn, client, note="integration test")).token
    finally:
        await conn.close()


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
        *topics, bootstrap_servers=settings.bootstrap_servers, auto_offset_reset="earliest", enable_auto_commit=False
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
                event = json.loads(record.value or b"null")
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


async def publish_submitted(settings: Settings, events: list[dict[str, Any]]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=settings.bootstrap_servers, enable_idempotence=True)
    await producer.start()
    try:
        for event in events:
            await producer.send_and_wait("case.submitted", json.dumps(event).encode(), key=event["id"].encode())
    finally:
        await producer.stop()


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
