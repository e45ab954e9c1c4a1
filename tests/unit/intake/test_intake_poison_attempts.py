"""Intake's `case.submitted` handler: a record whose acceptance keeps failing is dead-lettered after
XF_CONSUMER_MAX_ATTEMPTS tries (a pointer, never the case), and the handler returns so offsets move on."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from faststream.kafka import TestKafkaBroker

from services.common.settings import Settings
from services.intake.service import IntakeService


async def test_a_record_failing_its_effect_is_dead_lettered_after_the_bound() -> None:
    service = IntakeService(Settings(consumer_max_attempts=3))
    tries: list[int] = []

    async def failing(records: Sequence[Any]) -> None:
        tries.append(len(records))
        raise RuntimeError("the effect fails every time")

    service.accept_records = failing  # type: ignore[method-assign]
    letters: list[dict[str, Any]] = []

    @service.broker.subscriber("case.deadletter")
    async def collect(body: dict[str, Any]) -> None:
        letters.append(body)

    async with TestKafkaBroker(service.broker) as broker:
        event = {"id": "evt-1", "source": "erp/1", "data": {"summary": "个人信息"}}
        await broker.publish(json.dumps(event).encode(), topic="case.submitted", key=b"evt-1")

    assert tries == [1, 1, 1]  # one record: tried alone, three times
    (letter,) = letters
    data = letter["data"]
    assert (data["topic"], data["consumer"]) == ("case.submitted", "intake")
    assert "internal error RuntimeError" in data["reason"] and "tried 3 times" in data["reason"]
    assert "个人信息" not in json.dumps(letter, ensure_ascii=False)
