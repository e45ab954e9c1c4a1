"""PostgreSQL stopped under intake (issue 10, finding 5): requests are answered 503 with Retry-After,
not 500, and intake serves again once PostgreSQL is back. PostgreSQL is started again whatever happens."""

from __future__ import annotations

import asyncio

from intake_helpers import case_body, headers, http, new_key
from polling import eventually

from services import stack
from services.common.settings import Settings


def quiet(line: str) -> None:
    pass


async def submitted(settings: Settings) -> int | None:
    async with http(settings) as client:
        answer = await client.post(
            "/v1/cases", json=case_body(), headers=headers(settings.intake_dev_api_key, new_key())
        )
    return answer.status_code if answer.status_code == 201 else None


async def test_postgres_down_is_503_with_retry_after_then_intake_serves_again(intake_stack: Settings) -> None:
    settings = intake_stack
    assert await submitted(settings) == 201
    await asyncio.to_thread(stack.down, settings, ["postgres"], report=quiet)
    try:
        async with http(settings) as client:
            answers = [
                await client.post(
                    "/v1/cases", json=case_body(), headers=headers(settings.intake_dev_api_key, new_key())
                )
                for _ in range(3)
            ]
            read = await client.get("/v1/cases/XF150627-20260506-000001", headers=headers(settings.intake_dev_api_key))
    finally:
        await asyncio.to_thread(stack.up, settings, ["postgres"], report=quiet)
    for answer in [*answers, read]:
        assert answer.status_code == 503, answer.text
        assert answer.headers["Retry-After"] == str(settings.http_unavailable_retry_after)
        assert answer.json()["errors"][0]["code"] == "unavailable"
    assert await eventually(lambda: submitted(settings), timeout=60, what="intake serving again") == 201
