"""`xf deadletters list|show|replay` on the real stack: an upstream event refused because its client may not
submit on that channel is listed with the reason, shown as a pointer (never the case's content),
replayed after the client's channels are fixed and accepted once, however often it is replayed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
from aiokafka import AIOKafkaProducer
from poison import submission
from polling import eventually

from services.access import registry
from services.access.scopes import Client
from services.common.deadletter import dead_letter_event, dead_letter_id
from services.common.envelope import to_bytes
from services.common.kafka import client_options
from services.common.settings import PROJECT_ROOT, Settings
from services.common.signing import Signer


def xf(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "services.cli", "deadletters", *args],
        cwd=PROJECT_ROOT,
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=120,
    )


async def send(
    settings: Settings, topic: str, key: bytes, value: bytes, signer: Signer | None = None
) -> tuple[int, int]:
    producer = AIOKafkaProducer(**client_options(settings), enable_idempotence=True, acks="all")
    await producer.start()
    try:
        headers = None
        if signer is not None:  # a partner's record: signed, named by its event id
            event_id = json.loads(value)["id"]
            signed = signer.headers(event_id, value)
            headers = [("ce-id", event_id.encode()), *((name, text.encode()) for name, text in signed.items())]
        sent = await producer.send_and_wait(topic, value, key=key, headers=headers)
        return sent.partition, sent.offset
    finally:
        await producer.stop()


async def test_a_refused_event_is_listed_shown_and_replayed_once_its_cause_is_fixed(running_stack: Settings) -> None:
    settings = running_stack
    name = f"replay-{uuid.uuid4().hex[:8]}"
    source = f"{name}/erp"
    conn = await asyncpg.connect(settings.dsn, server_settings={"search_path": "intake"})
    try:
        client = Client(name, "upstream", frozenset({"letter"}), ("150627",), ("150627",), sources=(source,))
        await registry.create_client(conn, client, note="dead-letter replay test")
        signer = Signer(name, await registry.new_signing_key(conn, name))
        event_id = f"replay-{uuid.uuid4()}"
        data = submission(datetime.now(UTC) - timedelta(hours=1), 77)  # channel online: not this client's
        event = {"specversion": "1.0", "id": event_id, "type": "case.submitted", "source": source, "data": data}
        partition, offset = await send(
            settings, "case.submitted", event_id.encode(), json.dumps(event).encode(), signer
        )
        letter_id = dead_letter_id("intake", "case.submitted", partition, offset, None)

        async def letter() -> dict[str, Any] | None:
            done = xf("list", "--consumer", "intake", "--topic", "case.submitted", "--json", "--limit", "10000")
            assert done.returncode == 0, done.stderr
            mine = [item for item in json.loads(done.stdout) if item["id"] == letter_id]
            return mine[0] if mine else None

        found = await eventually(letter, timeout=60, what="intake's dead letter")
        assert (found["partition"], found["offset"], found["consumer"]) == (partition, offset, "intake")
        assert "channel" in found["reason"] and "payload" not in found
        shown = json.loads(xf("show", letter_id).stdout)
        assert json.loads(shown["payload"]) == {"event_id": event_id, "source": source, "reason": "forbidden"}
        assert data["petitioner"]["id_number"] not in json.dumps(shown, ensure_ascii=False)

        dry = xf("replay", found["id"], "--dry-run")
        assert dry.returncode == 0 and "would be replayed" in dry.stdout, dry.stdout + dry.stderr
        assert await conn.fetchval("SELECT count(*) FROM cases WHERE idempotency_key = $1", f"{name}:{event_id}") == 0

        await conn.execute("UPDATE clients SET channels = array['letter', 'online'] WHERE name = $1", name)
        for _ in range(2):  # replayed twice: one case
            done = xf("replay", found["id"])
            assert done.returncode == 0 and "replayed" in done.stdout, done.stdout + done.stderr

        async def accepted() -> int | None:
            count = await conn.fetchval("SELECT count(*) FROM cases WHERE idempotency_key = $1", f"{name}:{event_id}")
            return int(count) or None

        assert await eventually(accepted, timeout=60, what="the replayed case") == 1
    finally:
        await conn.close()


async def test_replay_says_when_the_original_bytes_are_not_available(running_stack: Settings) -> None:
    settings = running_stack
    letter = dead_letter_event(
        consumer="tracker", topic="case.lifecycle", partition=None, offset=None, reason="test: no position", payload=b""
    )
    await send(settings, "case.deadletter", b"unknown", to_bytes(letter))
    done = xf("replay", letter.id)
    assert done.returncode == 1
    assert "not replayed: original bytes not available" in done.stdout, done.stdout + done.stderr


def test_arguments_are_bounded_before_kafka_is_asked() -> None:
    for args in (
        ("show", "not-a-uuid"),
        ("list", "--limit", "0"),
        ("list", "--limit", "9" * 40),
        ("list", "--consumer", "X" * 100),
        ("list", "--topic", "case.other"),
        ("list", "--since", "yesterday"),
        ("replay", "--reason", "a\x01b", "--all"),
    ):
        done = xf(*args)
        assert done.returncode == 2 and "xf deadletters" in done.stderr, (args, done.stderr)
