"""Stall detection (services.common.progress): records waiting and no committed progress for N seconds."""

from __future__ import annotations

import httpx
from aiokafka.structs import TopicPartition
from fastapi import FastAPI

from services.common.progress import Stall
from services.common.runtime import mount_operational_routes

A = TopicPartition("case.routed", 0)
B = TopicPartition("case.routed", 1)


def test_waiting_records_without_progress_stall_after_the_window() -> None:
    stall = Stall(stall_seconds=60)
    stall.observe({A: 10, B: 5}, {A: 12, B: 5}, now=0)
    assert stall.stalled(now=59) == []
    stall.observe({A: 10, B: 5}, {A: 13, B: 5}, now=61)  # more arrive, nothing committed
    assert stall.stalled(now=61) == [A]
    assert stall.last_progress() == 0
    stall.observe({A: 11, B: 5}, {A: 13, B: 5}, now=62)  # one committed: progress
    assert stall.stalled(now=62) == [] and stall.last_progress() == 62


def test_an_idle_consumer_never_stalls() -> None:
    stall = Stall(stall_seconds=1)
    stall.observe({A: 7}, {A: 7}, now=0)
    stall.observe({A: 7}, {A: 7}, now=100)
    assert stall.stalled(now=100) == [] and stall.last_progress() == 100


def test_only_the_partitions_given_count() -> None:
    stall = Stall(stall_seconds=1)
    stall.observe({A: 0, B: 0}, {A: 3, B: 3}, now=0)
    stall.observe({A: 0, B: 3}, {A: 3, B: 3}, now=10)
    assert stall.stalled(now=10) == [A]
    assert stall.stalled(now=10, partitions=[B]) == []


async def test_healthz_answers_503_naming_the_stalled_group() -> None:
    stuck: list[str] = []
    app = FastAPI()
    mount_operational_routes(app, stalled=lambda: stuck)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
        assert (await client.get("/healthz")).status_code == 200
        stuck.append("tracker (case.routed/0)")
        answer = await client.get("/healthz")
    assert answer.status_code == 503 and "tracker (case.routed/0)" in answer.json()["detail"]
