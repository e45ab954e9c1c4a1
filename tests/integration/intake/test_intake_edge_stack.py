"""Hostile bodies against the real intake process (issue 10, findings 3 and 4): every one is refused
with a 4xx naming the field (or the body, field ""), never a 500 and never stored."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from intake_helpers import case_body, headers, http, new_key

from services.common.settings import Settings

NESTED = "[" * 5000 + "]" * 5000


async def post_raw(settings: Settings, body: bytes, path: str = "/v1/cases") -> tuple[int, dict[str, Any]]:
    async with http(settings) as client:
        answer = await client.post(
            path,
            content=body,
            headers={**headers(settings.intake_dev_api_key, new_key()), "Content-Type": "application/json"},
        )
    return answer.status_code, answer.json()


async def post_case(settings: Settings, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    return await post_raw(settings, json.dumps(body, ensure_ascii=False).encode())


def fields_and_codes(answer: dict[str, Any]) -> set[tuple[str, str]]:
    return {(error["field"], error["code"]) for error in answer["errors"]}


async def raw_exchange(settings: Settings, request: bytes, *, guard: float = 20.0) -> bytes:
    """Send `request` on a fresh connection and read until the server answers and closes (or `guard`)."""
    reader, writer = await asyncio.open_connection(settings.host, settings.intake_port)
    try:
        writer.write(request)
        await writer.drain()
        chunks: list[bytes] = []
        async with asyncio.timeout(guard):
            while chunk := await reader.read(65536):
                chunks.append(chunk)
        return b"".join(chunks)
    finally:
        writer.close()


async def test_a_body_declared_too_large_is_refused_before_it_is_sent(intake_stack: Settings) -> None:
    request = (
        f"POST /v1/cases HTTP/1.1\r\nHost: x\r\nX-API-Key: {intake_stack.intake_dev_api_key}\r\n"
        "Content-Type: application/json\r\nContent-Length: 104857600\r\n\r\n"
    ).encode()
    answer = await raw_exchange(intake_stack, request)
    assert answer.startswith(b"HTTP/1.1 413 "), answer[:200]
    assert b'"body_too_large"' in answer


async def test_a_chunked_body_is_cut_off_at_the_limit(intake_stack: Settings) -> None:
    chunk = b" " * 65536
    body = b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for _ in range(17))  # 1 MiB + 64 KiB, no end
    request = (
        f"POST /v1/cases HTTP/1.1\r\nHost: x\r\nX-API-Key: {intake_stack.intake_dev_api_key}\r\n"
        "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    ).encode()
    answer = await raw_exchange(intake_stack, request + body)
    assert answer.startswith(b"HTTP/1.1 413 "), answer[:200]
    assert b'"body_too_large"' in answer


async def test_a_batch_may_be_larger_than_a_single_case(intake_stack: Settings) -> None:
    padding = " " * 2_000_000
    body = json.dumps({"cases": [{"case": case_body(), "idempotency_key": new_key()}]}).encode()
    status, answer = await post_raw(intake_stack, body[:-1] + padding.encode() + b"}", "/v1/cases/batch")
    assert status == 200, answer
    assert answer["accepted"] == 1


@pytest.mark.parametrize(
    "body",
    [
        NESTED.encode(),
        json.dumps(case_body()).encode().replace(b'"litigation": "none"', b'"litigation": ' + NESTED.encode()),
    ],
    ids=["whole body", "inside a field"],
)
async def test_deep_nesting_is_refused(intake_stack: Settings, body: bytes) -> None:
    status, answer = await post_raw(intake_stack, body)
    assert status == 422
    assert fields_and_codes(answer) == {("", "too_deep")}


async def test_deep_nesting_inside_a_batch_is_refused(intake_stack: Settings) -> None:
    body = b'{"cases": [{"case": ' + NESTED.encode() + b"}]}"
    status, answer = await post_raw(intake_stack, body, "/v1/cases/batch")
    assert status == 422
    assert fields_and_codes(answer) == {("", "too_deep")}


async def test_a_number_of_100k_digits_is_refused(intake_stack: Settings) -> None:
    body = json.dumps(case_body()).encode().replace(b'"people_count": 1', b'"people_count": ' + b"9" * 100_000)
    status, answer = await post_raw(intake_stack, body)
    assert status == 422
    assert fields_and_codes(answer) == {("", "number_out_of_range")}


@pytest.mark.parametrize(
    ("field", "value", "path"),
    [
        ("summary", "工资\u0000被拖欠", "summary"),
        ("content", "正文\u0007响铃", "content"),
        ("location", {"region": "150627107", "address": "某地\u001b"}, "location.address"),
    ],
)
async def test_control_characters_are_refused_naming_the_field(
    intake_stack: Settings, field: str, value: Any, path: str
) -> None:
    status, answer = await post_case(intake_stack, case_body(**{field: value}))
    assert status == 422, answer
    assert fields_and_codes(answer) == {(path, "control_character")}


@pytest.mark.parametrize(
    ("field", "value", "code"),
    [
        ("people_count", True, "int_type"),
        ("people_count", "5", "int_type"),
        ("people_count", 5.0, "int_type"),
        ("received_at", 0, "datetime_type"),
        ("received_at", 1778000000, "datetime_type"),
        ("received_at", "0001-01-01T00:00:00+08:00", "received_at_too_early"),
        ("received_at", "1989-12-31T23:59:59+08:00", "received_at_too_early"),
        ("received_at", "9999-12-31T23:59:59-12:00", "received_at_future"),
    ],
)
async def test_values_are_not_coerced(intake_stack: Settings, field: str, value: Any, code: str) -> None:
    status, answer = await post_case(intake_stack, case_body(**{field: value}))
    assert status == 422, answer
    assert fields_and_codes(answer) == {(field, code)}


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"received_by": "150627:nosuchdept"}, "received_by"),
        ({"received_by": "000000:_"}, "received_by"),
        ({"target_unit": "150627:nosuchdept"}, "target_unit"),
        ({"target_unit": "150627107:police"}, "target_unit"),  # towns have no police bureau
        ({"assignment": {"from_unit": "150600:nosuchdept", "due_days": 30}}, "assignment.from_unit"),
    ],
)
async def test_units_the_directory_does_not_know_are_refused(
    intake_stack: Settings, overrides: dict[str, Any], field: str
) -> None:
    channel = "assignment" if "assignment" in overrides else "online"
    status, answer = await post_case(intake_stack, case_body(channel, **overrides))
    assert status == 422, answer
    assert fields_and_codes(answer) == {(field, "unit_unknown")}


async def test_listing_an_unknown_unit_is_refused(intake_stack: Settings) -> None:
    async with http(intake_stack) as client:
        answer = await client.get("/v1/units/150627:nosuchdept/cases", headers=headers(intake_stack.intake_dev_api_key))
    assert answer.status_code == 422
    assert fields_and_codes(answer.json()) == {("unit_id", "unit_unknown")}


async def test_a_case_number_with_a_nul_is_refused_not_queried(intake_stack: Settings) -> None:
    async with http(intake_stack) as client:
        answer = await client.get("/v1/cases/XF150627%00", headers=headers(intake_stack.intake_dev_api_key))
    assert answer.status_code == 422
    assert fields_and_codes(answer.json()) == {("case_id", "string_pattern_mismatch")}


async def test_a_control_character_outside_the_cases_of_a_batch_is_refused(intake_stack: Settings) -> None:
    body = {"cases": [{"case": case_body(), "idempotency_key": "key\u0000" + new_key()}]}
    status, answer = await post_raw(intake_stack, json.dumps(body).encode(), "/v1/cases/batch")
    assert status == 422
    assert fields_and_codes(answer) == {("cases.0.idempotency_key", "control_character")}


async def test_a_control_character_in_a_batch_item_refuses_that_item_only(intake_stack: Settings) -> None:
    body = {
        "cases": [
            {"case": case_body(summary="欠薪\u0000"), "idempotency_key": new_key()},
            {"case": case_body(), "idempotency_key": new_key()},
        ]
    }
    status, answer = await post_raw(intake_stack, json.dumps(body).encode(), "/v1/cases/batch")
    assert status == 200
    assert [result["status"] for result in answer["results"]] == ["invalid", "accepted"]
    assert answer["results"][0]["errors"][0]["field"] == "summary"
