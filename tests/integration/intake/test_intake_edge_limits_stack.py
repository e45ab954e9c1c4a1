"""Rate limits, lock-out and connection deadlines of a real intake process (issue 10, finding 5).

A second intake process of its own, on the session's Kafka and PostgreSQL, runs with small limits so
that the tests reach them with a few requests; the lock-out it applies stays inside that process. Its
clients come in through X-Forwarded-For (believed from 127.0.0.1, `XF_HTTP_FORWARDED_ALLOW_IPS`), each
test from an address of its own.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator

import httpx
import pytest
from intake_helpers import new_key
from service_process import service_process

from services.common.settings import Settings
from services.stack.apps import settings_environment

LIMITS = {
    "XF_HTTP_RATE_PER_KEY": "5/minute",
    "XF_HTTP_RATE_PER_ADDRESS": "8/minute",
    "XF_HTTP_AUTH_FAILURES": "3/minute",
    "XF_HTTP_LOCKOUT_SECONDS": "120",
    "XF_HTTP_HEADER_TIMEOUT": "1",
    "XF_HTTP_BODY_TIMEOUT": "1",
}


@pytest.fixture(scope="module")
def limited(intake_stack: Settings) -> Iterator[Settings]:
    settings = intake_stack.model_copy(update={"intake_port": intake_stack.intake_port + 40})
    env = {**os.environ, **settings_environment(settings), **LIMITS}
    with service_process(
        "services.intake",
        env,
        health_url=f"http://{settings.host}:{settings.intake_port}/healthz",
        log_path=settings.stack_dir / "logs" / "intake-limited.log",
    ):
        yield settings


def client(settings: Settings, address: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        base_url=f"http://{settings.host}:{settings.intake_port}", timeout=30, headers={"X-Forwarded-For": address}
    )


async def test_a_key_over_its_rate_is_answered_429_with_retry_after(limited: Settings) -> None:
    async with client(limited, "10.1.0.1") as http:
        statuses = [
            (await http.get("/v1/cases/XF150627-20260506-999999", headers={"X-API-Key": limited.intake_dev_api_key}))
            for _ in range(6)
        ]
    assert [answer.status_code for answer in statuses] == [404] * 5 + [429]
    refused = statuses[-1]
    assert refused.json()["errors"][0]["code"] == "rate_limited"
    assert 1 <= int(refused.headers["Retry-After"]) <= 60


async def test_an_address_over_its_rate_is_answered_429(limited: Settings) -> None:
    async with client(limited, "10.1.0.2") as http:
        statuses = [(await http.get("/healthz")).status_code for _ in range(9)]
    assert statuses[-1] == 429
    assert statuses.count(429) == 1


async def test_repeated_wrong_keys_lock_the_address_out(limited: Settings) -> None:
    async with client(limited, "10.1.0.3") as http:
        wrong = [(await http.get("/v1/cases/x", headers={"X-API-Key": new_key()})).status_code for _ in range(4)]
        locked = await http.get("/v1/cases/x", headers={"X-API-Key": limited.intake_dev_api_key})
    async with client(limited, "10.1.0.4") as http:
        elsewhere = await http.get("/healthz")
    assert wrong == [401, 401, 401, 401]
    assert locked.status_code == 429
    assert locked.json()["errors"][0]["code"] == "locked_out"
    assert 60 < int(locked.headers["Retry-After"]) <= 120
    assert elsewhere.status_code == 200, elsewhere.text


async def test_a_connection_that_never_finishes_its_headers_is_closed(limited: Settings) -> None:
    reader, writer = await asyncio.open_connection(limited.host, limited.intake_port)
    try:
        writer.write(b"POST /v1/cases HTTP/1.1\r\nHost: x\r\n")
        async with asyncio.timeout(20):  # a guard: the server's deadline is 1 s
            assert await reader.read() == b""
    finally:
        writer.close()


async def test_a_body_that_stops_arriving_is_answered_408_and_closed(limited: Settings) -> None:
    reader, writer = await asyncio.open_connection(limited.host, limited.intake_port)
    try:
        writer.write(
            b"POST /v1/cases HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 10.1.0.5\r\nContent-Length: 1000\r\n\r\n"
            b'{"channel":'
        )
        async with asyncio.timeout(20):
            answer = await reader.read()
    finally:
        writer.close()
    assert answer.startswith(b"HTTP/1.1 408 ")
    assert b'"body_timeout"' in answer


async def test_headers_larger_than_allowed_are_refused(limited: Settings) -> None:
    async with client(limited, "10.1.0.6") as http:
        answer = await http.get("/healthz", headers={"X-Padding": "x" * 20_000})
    assert answer.status_code == 400
