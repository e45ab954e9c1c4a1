"""uvicorn with limits on connections: a request's headers must arrive within a deadline and a size.

uvicorn closes an idle keep-alive connection after `timeout_keep_alive`, but a connection that sends
nothing, or half a request line, is kept forever. `GuardedHttpToolsProtocol` arms a timer when the
connection opens and when a request begins, and closes the connection unless the headers are complete
before it fires; header bytes beyond `max_header_bytes` are a malformed request (400, closed). Bodies
are bounded and timed by `http_edge.EdgeGuard`.
"""

from __future__ import annotations

import asyncio
from typing import Any

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from services.common.settings import Settings


class HeadersTooLarge(Exception):
    pass


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    header_timeout: float = 10.0
    max_header_bytes: int = 16_384

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._header_timer: asyncio.TimerHandle | None = None
        self._header_bytes = 0

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._header_bytes = 0
        self._arm()

    def on_url(self, url: bytes) -> None:
        self._count(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._count(len(name) + len(value))
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._disarm()
        super().on_headers_complete()

    def _count(self, size: int) -> None:
        self._header_bytes += size
        if self._header_bytes > self.max_header_bytes:
            raise HeadersTooLarge  # httptools turns it into a parser error: uvicorn answers 400 and closes

    def _arm(self) -> None:
        if self._header_timer is None:
            self._header_timer = self.loop.call_later(self.header_timeout, self._headers_overdue)

    def _disarm(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _headers_overdue(self) -> None:
        self._header_timer = None
        if not self.transport.is_closing():
            self.transport.close()


def protocol_for(settings: Settings) -> type[GuardedHttpToolsProtocol]:
    return type(
        "ConfiguredHttpToolsProtocol",
        (GuardedHttpToolsProtocol,),
        {"header_timeout": settings.http_header_timeout, "max_header_bytes": settings.http_max_header_bytes},
    )


def server_config(app: Any, settings: Settings, port: int) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        host=settings.host,
        port=port,
        http=protocol_for(settings),
        log_config=None,
        access_log=False,
        lifespan="on",
        timeout_keep_alive=settings.http_keep_alive_timeout,
        limit_concurrency=settings.http_max_concurrency,
        forwarded_allow_ips=settings.http_forwarded_allow_ips,
    )
