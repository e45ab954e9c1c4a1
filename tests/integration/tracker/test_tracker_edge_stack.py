"""The tracker's HTTP API behind the same edge as intake's (issue 10): bodies bounded before FastAPI
parses them, strict action bodies, case numbers checked before a query; never a 500."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from services.common.settings import Settings

CASE = "XF150627-20260506-999999"


async def post(settings: Settings, path: str, content: bytes) -> httpx.Response:
    async with httpx.AsyncClient(base_url=f"http://{settings.host}:{settings.tracker_port}", timeout=30) as client:
        return await client.post(
            path,
            content=content,
            headers={"X-API-Key": settings.intake_dev_api_key, "Content-Type": "application/json"},
        )


def codes(answer: httpx.Response) -> set[tuple[str, str]]:
    return {(error["field"], error["code"]) for error in answer.json()["errors"]}


async def test_a_body_declared_too_large_is_refused_before_it_is_sent(tracker_stack: Settings) -> None:
    reader, writer = await asyncio.open_connection(tracker_stack.host, tracker_stack.tracker_port)
    try:
        writer.write(
            f"POST /v1/cases/{CASE}/reject HTTP/1.1\r\nHost: x\r\nX-API-Key: {tracker_stack.intake_dev_api_key}\r\n"
            "Content-Type: application/json\r\nContent-Length: 104857600\r\n\r\n".encode()
        )
        async with asyncio.timeout(20):
            answer = await reader.read()
    finally:
        writer.close()
    assert answer.startswith(b"HTTP/1.1 413 ")


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b"[" * 5000 + b"]" * 5000, {("", "json_refused")}),
        (b'{"days": ' + b"9" * 100_000 + b', "reason": "r", "approved_by": "x"}', {("", "json_refused")}),
        (b'{"days": "5", "reason": "r", "approved_by": "x"}', {("days", "int_type")}),
        (b'{"days": true, "reason": "r", "approved_by": "x"}', {("days", "int_type")}),
        (b'{"days": 5, "reason": "r\\u0000", "approved_by": "x"}', {("reason", "control_character")}),
        (b'{"days": 5, "reason": "r", "approved_by": "x", "at": 0}', {("at", "datetime_type")}),
    ],
    ids=["deep", "long number", "string days", "bool days", "NUL", "epoch"],
)
async def test_hostile_action_bodies_are_refused(tracker_stack: Settings, body: bytes, expected: Any) -> None:
    answer = await post(tracker_stack, f"/v1/cases/{CASE}/extend", body)
    assert answer.status_code == 422, answer.text
    assert codes(answer) == expected


async def test_a_case_number_with_a_nul_is_refused(tracker_stack: Settings) -> None:
    async with httpx.AsyncClient(base_url=f"http://{tracker_stack.host}:{tracker_stack.tracker_port}") as client:
        answer = await client.get("/v1/cases/XF%00", headers={"X-API-Key": tracker_stack.intake_dev_api_key})
    assert answer.status_code == 422
    assert codes(answer) == {("case_id", "string_pattern_mismatch")}
