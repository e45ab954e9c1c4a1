"""The HTTP edge of intake and the tracker: an ASGI middleware that turns a request away before the
application sees it.

In order, per request:
1. a client address locked out for too many wrong API keys gets 429 (no key is checked);
2. rate limits per client address, then per presented API key (a hash of it): 429 with Retry-After;
3. the body: a declared Content-Length above the path's limit gets 413 before a byte of the body is
   read; otherwise the body is read here, counted as it arrives (chunked bodies too) and cut off with
   413 at the limit, and the whole of it must arrive within `body_timeout` (else 408). The application
   then gets the body in one piece.
4. for an app that lets FastAPI parse its JSON (the tracker), the body is read with
   `services.common.bounded` first (depth, numbers, UTF-8): 422 naming the body;
5. every 401 answered to a request that presented a key counts as a wrong key of its client address.

The limits are in-process: several instances behind a load balancer each apply their own.
Refusals have the APIs' error shape (`{"errors": [{field, code, message_en, message_zh}]}`) and close
the connection when the body was not read.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import math
import time
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from dataclasses import dataclass, field
from typing import Any

import asyncpg
from aiokafka.errors import KafkaConnectionError, KafkaTimeoutError
from fastapi import FastAPI, Request
from fastapi.responses import Response
from limits import RateLimitItem, parse_many
from limits.storage import MemoryStorage
from limits.strategies import SlidingWindowCounterRateLimiter

from services.common.bounded import Limits, Refused, load_json
from services.common.field_errors import field_error
from services.common.settings import Settings

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

_WHAT_ZH = {"address": "地址", "API key": "API 密钥"}
MAX_LOCKOUTS = 100_000


def error_payload(code: str, field_name: str = "", **context: Any) -> bytes:
    return json.dumps({"errors": [field_error(field_name, code, **context).to_dict()]}, ensure_ascii=False).encode()


@dataclass(frozen=True)
class EdgeLimits:
    max_body: int = 1_048_576
    # Paths (exact) that take a larger body, e.g. batches.
    larger_bodies: dict[str, int] = field(default_factory=dict)
    body_timeout: float = 30.0
    per_key: tuple[RateLimitItem, ...] = ()
    per_address: tuple[RateLimitItem, ...] = ()
    auth_failures: tuple[RateLimitItem, ...] = ()
    lockout_seconds: float = 300.0
    # For an app that lets its framework parse JSON bodies (the tracker): a JSON body is read here
    # with `services.common.bounded` first (depth, numbers, UTF-8), and refused 422 naming the body.
    json: Limits | None = None

    @classmethod
    def from_settings(
        cls, settings: Settings, larger_bodies: Iterable[str] = (), *, check_json: bool = False
    ) -> EdgeLimits:
        json_limits = Limits(
            max(settings.http_max_body_bytes, settings.http_max_batch_body_bytes),
            settings.http_max_json_depth,
            refuse_control=False,
        )
        return cls(
            json=json_limits if check_json else None,
            max_body=settings.http_max_body_bytes,
            larger_bodies={path: settings.http_max_batch_body_bytes for path in larger_bodies},
            body_timeout=settings.http_body_timeout,
            per_key=tuple(parse_many(settings.http_rate_per_key)),
            per_address=tuple(parse_many(settings.http_rate_per_address)),
            auth_failures=tuple(parse_many(settings.http_auth_failures)),
            lockout_seconds=settings.http_lockout_seconds,
        )

    def body_limit(self, path: str) -> int:
        return self.larger_bodies.get(path, self.max_body)


class Refusal(Exception):
    def __init__(self, status: int, code: str, *, retry_after: int | None = None, close: bool = False, **context: Any):
        super().__init__(code)
        self.status = status
        self.code = code
        self.retry_after = retry_after
        self.close = close
        self.context = context

    async def send(self, send: Send) -> None:
        context = dict(self.context)
        if self.retry_after is not None:
            context["retry_after"] = self.retry_after
        body = error_payload(self.code, **context)
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        if self.retry_after is not None:
            headers.append((b"retry-after", str(self.retry_after).encode()))
        if self.close:
            headers.append((b"connection", b"close"))
        await send({"type": "http.response.start", "status": self.status, "headers": headers})
        await send({"type": "http.response.body", "body": body})


class EdgeGuard:
    """The ASGI middleware; `app.add_middleware(EdgeGuard, limits=...)` or wrap an ASGI app."""

    def __init__(self, app: ASGIApp, limits: EdgeLimits, *, clock: Callable[[], float] = time.time) -> None:
        self.app = app
        self.limits = limits
        self.clock = clock
        self.limiter = SlidingWindowCounterRateLimiter(MemoryStorage())
        self.locked_until: dict[str, float] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        address = _client_address(scope)
        key = _header(scope, b"x-api-key")
        try:
            self.admit(address, key)
            body = await self.read_body(scope, receive)
        except Refusal as refusal:
            await refusal.send(send)
            return
        if body is None:  # the client went away before its body arrived
            return
        if self.limits.json is not None and body and _is_json(scope):
            try:
                load_json(body, self.limits.json)
            except Refused as refused:
                await Refusal(422, "json_refused", reason=refused.code).send(send)
                return
        await self.app(scope, _replay(body, receive), self._watch_failures(send, address, key))

    def admit(self, address: str, key: bytes | None) -> None:
        now = self.clock()
        until = self.locked_until.get(address)
        if until is not None:
            if until > now:
                raise Refusal(429, "locked_out", retry_after=math.ceil(until - now))
            del self.locked_until[address]
        self._limit(self.limits.per_address, "address", address)
        if key:
            self._limit(self.limits.per_key, "API key", hashlib.sha256(key).hexdigest()[:32])

    def _limit(self, items: tuple[RateLimitItem, ...], what: str, identity: str) -> None:
        for item in items:
            if not self.limiter.hit(item, what, identity):
                reset = self.limiter.get_window_stats(item, what, identity).reset_time
                retry_after = max(1, math.ceil(reset - self.clock()))
                raise Refusal(429, "rate_limited", retry_after=retry_after, what=what, what_zh=_WHAT_ZH[what])

    def failed_key(self, address: str) -> None:
        """One more wrong key from `address`; past the limit it is locked out."""
        for item in self.limits.auth_failures:
            if not self.limiter.hit(item, "auth failure", address):
                if len(self.locked_until) >= MAX_LOCKOUTS:
                    now = self.clock()
                    self.locked_until = {a: t for a, t in self.locked_until.items() if t > now}
                self.locked_until[address] = self.clock() + self.limits.lockout_seconds
                return

    async def read_body(self, scope: Scope, receive: Receive) -> bytes | None:
        limit = self.limits.body_limit(scope.get("path", ""))
        declared = _header(scope, b"content-length")
        if declared is not None:
            if not declared.strip().isdigit():
                raise Refusal(400, "content_length_invalid", close=True)
            if int(declared) > limit:
                raise Refusal(413, "body_too_large", close=True, limit=limit)
        chunks: list[bytes] = []
        size = 0
        try:
            async with asyncio.timeout(self.limits.body_timeout):
                while True:
                    message = await receive()
                    if message["type"] != "http.request":
                        return None
                    chunk = message.get("body", b"")
                    size += len(chunk)
                    if size > limit:
                        raise Refusal(413, "body_too_large", close=True, limit=limit)
                    chunks.append(chunk)
                    if not message.get("more_body", False):
                        return b"".join(chunks)
        except TimeoutError:
            raise Refusal(408, "body_timeout", close=True, seconds=self.limits.body_timeout) from None

    def _watch_failures(self, send: Send, address: str, key: bytes | None) -> Send:
        if not key or not self.limits.auth_failures:
            return send

        async def watching(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] == 401:
                self.failed_key(address)
            await send(message)

        return watching


def _client_address(scope: Scope) -> str:
    client = scope.get("client")
    return str(client[0]) if client else "unknown"


def _header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return bytes(value)
    return None


def _is_json(scope: Scope) -> bool:
    content_type = _header(scope, b"content-type") or b""
    return content_type.split(b";")[0].strip().lower() in (b"application/json", b"")


def _replay(body: bytes, receive: Receive) -> Receive:
    """The body in one message, then whatever the server says next (a disconnect)."""
    delivered = False

    async def replay() -> Message:
        nonlocal delivered
        if not delivered:
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


# What a request raises while PostgreSQL (or, for the tracker's actions, Kafka) cannot be reached:
# answered 503 with Retry-After, not 500.
UNAVAILABLE: tuple[type[Exception], ...] = (
    OSError,  # connection refused or reset
    TimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.exceptions.OperatorInterventionError,  # shutting down, starting up, crashed
    asyncpg.exceptions.TooManyConnectionsError,
    asyncpg.InterfaceError,  # the pool or connection is closing
    KafkaConnectionError,
    KafkaTimeoutError,
)


def install_edge(
    app: FastAPI, settings: Settings, *, larger_bodies: Iterable[str] = (), check_json: bool = False
) -> None:
    """The guard around a FastAPI app (`larger_bodies`: paths with the batch limit; `check_json`: JSON
    bodies bounded here, for an app that lets FastAPI parse them), and 503 for unreachable dependencies."""
    retry_after = settings.http_unavailable_retry_after
    log = logging.getLogger("xf.http")

    async def on_unavailable(request: Request, exc: Exception) -> Response:
        log.warning("answering 503: a dependency is unreachable (%s)", type(exc).__name__)
        return Response(
            error_payload("unavailable", retry_after=retry_after),
            status_code=503,
            media_type="application/json",
            headers={"Retry-After": str(retry_after)},
        )

    for error in UNAVAILABLE:
        app.add_exception_handler(error, on_unavailable)
    app.add_middleware(EdgeGuard, limits=EdgeLimits.from_settings(settings, larger_bodies, check_json=check_json))
