"""Kafka stopped and started again while cases keep arriving over HTTP: every case is accepted during
the outage, and every one reaches `case.received` exactly once afterwards."""

from __future__ import annotations

import asyncio
import re
from collections import Counter

from intake_helpers import case_body, connected, headers, http, new_key, read_events
from polling import eventually

from services import stack
from services.common.settings import Settings


def quiet(line: str) -> None:
    pass


async def backlog_metric(settings: Settings) -> float:
    async with http(settings) as client:
        text = (await client.get("/metrics")).text
    match = re.search(r"^xf_intake_outbox_backlog (\S+)$", text, re.MULTILINE)
    assert match is not None
    return float(match.group(1))


async def backlog_seen(settings: Settings) -> float | None:
    value = await backlog_metric(settings)
    return value if value > 0 else None


async def pending(settings: Settings, case_ids: list[str]) -> int:
    async with connected(settings) as conn:
        return int(
            await conn.fetchval("SELECT count(*) FROM outbox WHERE key = ANY($1) AND published_at IS NULL", case_ids)
        )


async def test_kafka_outage_loses_nothing_and_duplicates_nothing(intake_stack: Settings) -> None:
    settings = intake_stack
    accepted: list[str] = []
    refused: list[str] = []
    stop = asyncio.Event()

    async def keep_submitting() -> None:
        async with http(settings) as client:
            while not stop.is_set():
                answer = await client.post(
                    "/v1/cases", json=case_body("online"), headers=headers(settings.intake_dev_api_key, new_key())
                )
                if answer.status_code == 201:
                    accepted.append(answer.json()["case_id"])
                else:
                    refused.append(f"{answer.status_code} {answer.text[:200]}")
                await asyncio.sleep(0.01)

    submitting = asyncio.create_task(keep_submitting())
    try:
        await asyncio.sleep(2)
        await asyncio.to_thread(stack.down, settings, ["kafka"], report=quiet)
        down_at = len(accepted)
        await asyncio.sleep(6)
        during = len(accepted) - down_at
        # The backlog gauge is refreshed while the relay waits on Kafka.
        assert await eventually(lambda: backlog_seen(settings), timeout=10, what="a backlog") > 0
        await asyncio.to_thread(stack.up, settings, ["kafka"], report=quiet)
        await asyncio.sleep(3)
    finally:
        stop.set()
        await submitting

    print(f"{len(accepted)} cases accepted, {during} of them while Kafka was down")
    assert not refused, refused[:3]
    assert during > 20, f"only {during} cases accepted while Kafka was down"

    async def drained() -> bool | None:
        return True if await pending(settings, accepted) == 0 else None

    await eventually(drained, timeout=120, what="an empty outbox")
    wanted = set(accepted)
    events = await read_events(settings, ("case.received",), keep=lambda event: event["caseid"] in wanted, timeout=120)
    copies = Counter(event["caseid"] for event in events)
    assert set(copies) == wanted, f"{len(wanted - set(copies))} cases never reached case.received"
    duplicated = {case_id: n for case_id, n in copies.items() if n > 1}
    assert not duplicated, f"{len(duplicated)} cases published more than once"
    assert len({event["id"] for event in events}) == len(events)
