"""What every service process does the same way: logging, the HTTP server, health and metrics."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from pathlib import Path
from typing import Any, Protocol

import uvicorn
from aiokafka.structs import ConsumerRecord
from fastapi import FastAPI, HTTPException, Response
from faststream.kafka.message import KafkaMessage
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest
from watchfiles import awatch

from services.common import log_repeats
from services.common.http_server import server_config
from services.common.settings import Settings


@contextlib.asynccontextmanager
async def running(*coroutines: Coroutine[Any, Any, Any]) -> AsyncIterator[None]:
    """Run the coroutines as background tasks while the block runs; cancel and await them after it."""
    tasks = [asyncio.create_task(coroutine) for coroutine in coroutines]
    try:
        yield
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def every(
    seconds: float, step: Callable[[], Awaitable[object]], log: logging.Logger, what: str, *, trace: bool = False
) -> None:
    """Run `step` now and then every `seconds`, forever. A failing round is logged as `<what> failed`
    (a warning; an error with the traceback when `trace`) and the next round tries again: a background
    chore never takes the service down."""
    while True:
        try:
            await step()
        except Exception as error:
            if trace:
                log.exception("%s failed", what)
            else:
                log.warning("%s failed: %s", what, error)
        await asyncio.sleep(seconds)


async def on_changes(
    directory: Path,
    react: Callable[[], Awaitable[object]],
    log: logging.Logger,
    *,
    debounce_ms: int = 300,
    retry_s: float = 5.0,
) -> None:
    """Call `react` after every change below `directory` (changes close together count once), forever;
    a watch that fails is logged and started again after `retry_s`."""
    while True:
        try:
            async for _changes in awatch(directory, debounce=debounce_ms, recursive=True):
                await react()
        except Exception:
            log.exception("watching %s failed; watching again in %ss", directory, retry_s)
        await asyncio.sleep(retry_s)


def configure_logging(settings: Settings) -> None:
    logging.basicConfig(
        level=settings.log_level.upper(),
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
    )
    log_repeats.install(settings.log_repeat_interval, settings.log_repeat_burst)


class Service(Protocol):
    async def start(self) -> None: ...

    async def stop(self) -> None: ...


def service_app(
    service: Service,
    *,
    title: str,
    description: str = "",
    chores: Callable[[], list[Coroutine[Any, Any, Any]]] = list,
    stalled: Callable[[], list[str]] | None = None,
) -> FastAPI:
    """The one app factory of the services: the service started and stopped with the app, its background
    chores running in between, `/healthz` and `/metrics`; the caller adds its own routes."""

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await service.start()
        try:
            async with running(*chores()):
                yield
        finally:
            await service.stop()

    app = FastAPI(title=title, version="1", description=description, lifespan=lifespan)
    app.state.service = service
    mount_operational_routes(app, stalled=stalled)
    return app


def mount_operational_routes(
    app: FastAPI, *, ready: Any = None, stalled: Callable[[], list[str]] | None = None
) -> None:
    """`/healthz` for liveness (and readiness when `ready()` is given) and `/metrics` for Prometheus.
    `/healthz` answers 503 while `stalled()` names consumer groups that have records waiting and make no
    progress (services.common.progress)."""

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        if ready is not None and not ready():
            raise HTTPException(status_code=503, detail="starting")
        stuck = stalled() if stalled is not None else []
        if stuck:
            raise HTTPException(status_code=503, detail=f"consumer stalled: {'; '.join(stuck)}")
        return {"status": "ok"}

    @app.get("/metrics", include_in_schema=False)
    async def metrics() -> Response:
        return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)


def serve(app: FastAPI, settings: Settings, port: int) -> None:
    """Run the app under uvicorn with the connection limits of http_server (header deadline and size,
    keep-alive, concurrency)."""
    configure_logging(settings)
    uvicorn.Server(server_config(app, settings, port)).run()


def records_of(message: KafkaMessage) -> list[ConsumerRecord[bytes, bytes]]:
    """The Kafka records behind a faststream message, whether it was consumed singly or in a batch."""
    raw = message.raw_message
    if isinstance(raw, tuple | list):
        return list(raw)
    return [raw]
