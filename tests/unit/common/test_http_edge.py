"""EdgeGuard around a small ASGI app (fast handler tests; the real-stack ones are in
tests/integration/intake/test_intake_edge_*): limits answered before the app sees the request."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from limits import parse_many

from services.common.bounded import Limits
from services.common.http_edge import EdgeGuard, EdgeLimits, Message, Receive, Scope, Send


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


class Echo:
    """Answers 401 to key `wrong`, else 200 with the size of the body it got."""

    def __init__(self) -> None:
        self.calls = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.calls += 1
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        key = dict(scope["headers"]).get(b"x-api-key")
        status = 401 if key == b"wrong" else 200
        await send({"type": "http.response.start", "status": status, "headers": []})
        await send({"type": "http.response.body", "body": str(len(body)).encode()})


def guard(app: Echo, **limits: Any) -> EdgeGuard:
    return EdgeGuard(app, EdgeLimits(**limits))  # type: ignore[arg-type]


def client(app: Any, address: str = "10.0.0.1") -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app, client=(address, 1234)), base_url="http://edge")


def codes(answer: httpx.Response) -> list[str]:
    return [error["code"] for error in answer.json()["errors"]]


async def test_a_declared_body_over_the_limit_never_reaches_the_app() -> None:
    app = Echo()
    async with client(guard(app, max_body=100)) as http:
        answer = await http.post("/v1/cases", content=b"x" * 101)
    assert answer.status_code == 413
    assert codes(answer) == ["body_too_large"]
    assert answer.headers["connection"] == "close"
    assert app.calls == 0


async def test_a_streamed_body_is_counted_and_cut_off() -> None:
    app = Echo()

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(10):
            yield b"x" * 60

    async with client(guard(app, max_body=100)) as http:
        answer = await http.post("/v1/cases", content=chunks())
    assert answer.status_code == 413
    assert app.calls == 0


async def test_a_batch_path_takes_its_larger_limit_and_the_app_gets_the_whole_body() -> None:
    app = Echo()
    async with client(guard(app, max_body=100, larger_bodies={"/v1/cases/batch": 1000})) as http:
        single = await http.post("/v1/cases", content=b"x" * 500)
        batch = await http.post("/v1/cases/batch", content=b"x" * 500)
    assert single.status_code == 413
    assert (batch.status_code, batch.text) == (200, "500")


async def test_a_body_that_does_not_arrive_in_time_is_answered_408() -> None:
    app = Echo()
    edge = guard(app, body_timeout=0.05)
    sent: list[Message] = []

    async def never() -> Message:
        await asyncio.sleep(3600)
        raise AssertionError

    async def send(message: Message) -> None:
        sent.append(message)

    scope = {"type": "http", "path": "/v1/cases", "headers": [(b"content-length", b"10")], "client": ("10.0.0.1", 1)}
    await edge(scope, never, send)
    assert sent[0]["status"] == 408
    assert app.calls == 0


async def test_rate_limits_per_address_and_per_key_answer_429_with_retry_after() -> None:
    app = Echo()
    edge = guard(app, per_address=tuple(parse_many("5/minute")), per_key=tuple(parse_many("3/minute")))
    async with client(edge) as http:
        by_key = [(await http.get("/", headers={"X-API-Key": "k1"})).status_code for _ in range(4)]
        other_key = (await http.get("/", headers={"X-API-Key": "k2"})).status_code
        over = await http.get("/", headers={"X-API-Key": "k3"})
    async with client(edge, "10.0.0.2") as http:
        elsewhere = (await http.get("/")).status_code
    assert by_key == [200, 200, 200, 429]
    assert other_key == 200
    assert over.status_code == 429
    assert codes(over) == ["rate_limited"]
    assert 1 <= int(over.headers["retry-after"]) <= 60
    assert elsewhere == 200


async def test_too_many_wrong_keys_lock_the_address_out_without_asking_the_app() -> None:
    app = Echo()
    clock = Clock()
    edge = EdgeGuard(
        app,  # type: ignore[arg-type]
        EdgeLimits(auth_failures=tuple(parse_many("3/minute")), lockout_seconds=300),
        clock=clock,
    )
    async with client(edge) as http:
        wrong = [(await http.get("/", headers={"X-API-Key": "wrong"})).status_code for _ in range(4)]
        calls = app.calls
        locked = await http.get("/", headers={"X-API-Key": "right"})
        assert app.calls == calls
        clock.now += 301
        after = await http.get("/", headers={"X-API-Key": "right"})
    async with client(edge, "10.0.0.9") as http:
        elsewhere = await http.get("/", headers={"X-API-Key": "right"})
    assert wrong == [401, 401, 401, 401]
    assert locked.status_code == 429
    assert codes(locked) == ["locked_out"]
    assert int(locked.headers["retry-after"]) == 300
    assert after.status_code == 200
    assert elsewhere.status_code == 200


@pytest.mark.parametrize("declared", [b"ten", b"-1"])
async def test_a_content_length_that_is_not_a_number_is_refused(declared: bytes) -> None:
    app = Echo()
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    scope = {"type": "http", "path": "/", "headers": [(b"content-length", declared)], "client": ("10.0.0.1", 1)}
    await guard(app)(scope, receive, send)
    assert sent[0]["status"] == 400
    assert app.calls == 0


@pytest.mark.parametrize(
    ("body", "reason"),
    [(b"[" * 5000 + b"]" * 5000, "too_deep"), (b'{"days": ' + b"9" * 100_000 + b"}", "number_out_of_range")],
)
async def test_json_bodies_are_bounded_for_an_app_that_parses_its_own(body: bytes, reason: str) -> None:
    app = Echo()
    json_limits = Limits(1_000_000, 32, refuse_control=False)
    async with client(guard(app, max_body=1_000_000, json=json_limits)) as http:
        answer = await http.post("/v1/cases/X/extend", content=body, headers={"Content-Type": "application/json"})
    assert answer.status_code == 422
    assert answer.json()["errors"][0]["code"] == "json_refused"
    assert reason in answer.json()["errors"][0]["message_en"]
    assert app.calls == 0
