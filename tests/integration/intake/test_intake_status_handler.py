"""Intake's case.status handler in memory (faststream's TestKafkaBroker) against the real store: a newer
status is applied, an older one ignored, and a poison record is dead-lettered while the next is applied."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from faststream.kafka import TestKafkaBroker
from intake_helpers import case_body, connected, headers, http

from services.common.envelope import to_bytes, wrap
from services.common.schemas import CaseStatusBody, StatusCause
from services.common.settings import Settings
from services.intake.service import IntakeService
from services.intake.store import open_store


def status(case_id: str, version: int, stage: str) -> bytes:
    body = CaseStatusBody(
        case_id=case_id,
        version=version,
        stage=stage,
        status="open",
        closed=False,
        handling_unit="150627:hrss",
        cause=StatusCause(event_id=str(uuid.uuid4()), type=stage, at=datetime(2099, 1, 1, tzinfo=UTC)),
    )
    return to_bytes(wrap(body, type="case.status", source="xinfang/tracker", case_id=case_id))


async def test_the_status_handler_applies_newer_events_and_dead_letters_poison(intake_stack: Settings) -> None:
    async with http(intake_stack) as client:
        answer = await client.post(
            "/v1/cases", json=case_body("letter"), headers=headers(intake_stack.intake_dev_api_key)
        )
    case = answer.json()["case_id"]
    service = IntakeService(intake_stack)
    service._pool = await open_store(intake_stack.dsn, max_size=2)
    letters: list[dict[str, Any]] = []

    @service.broker.subscriber("case.deadletter")
    async def dead_letter(body: dict[str, Any]) -> None:
        letters.append(body)

    try:
        async with TestKafkaBroker(service.broker) as broker:
            await broker.publish(status(case, 200, "accepted"), topic="case.status", key=case.encode())
            await broker.publish(status(case, 150, "delivered"), topic="case.status", key=case.encode())
            await broker.publish(b"[" * 100_000 + b"]" * 100_000, topic="case.status", key=case.encode())
            await broker.publish(status(case, 201, "replied"), topic="case.status", key=case.encode())
    finally:
        await service.pool.close()
    async with connected(intake_stack) as conn:
        row = await conn.fetchrow("SELECT stage, status_version FROM cases WHERE case_id = $1", case)
    assert (row["stage"], row["status_version"]) == ("replied", 201)
    assert len(letters) == 1 and letters[0]["data"]["reason"] == "malformed: too_deep"
