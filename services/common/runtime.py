"""What every service process does the same way: logging, the HTTP server, health and metrics."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
from collections.abc import AsyncIterator, Coroutine
from typing import Any

import uvicorn
from aiokafka.structs import ConsumerRecord
from fastapi import FastAPI, HTTPException, Response
from faststream.kafka.message import KafkaMessage
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

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


def configure_logging(settings: Settings) -> None:
    logging.basicConfig(
        level=settings.log_level.upper(),
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
    )


def mount_operational_routes(app: FastAPI, *, ready: Any = None) -> None:
    """`/healthz` for liveness (and readiness when `ready()` is given) and `/metrics` for Prometheus."""

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        if ready is not None and not ready():
            raise HTTPException(status_code=503, detail="starting")
        return {"status": "ok"}

    @app.get("/metrics", include_in_schema=False)
    async def metrics() -> Response:
        return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)


def serve(app: FastAPI, settings: Settings, port: int) -> None:
    configure_logging(settings)
    uvicorn.run(app, host=settings.host, port=port, log_config=None, access_log=False, lifespan="on")


def records_of(message: KafkaMessage) -> list[ConsumerRecord[bytes, bytes]]:
    """The Kafka records behind a faststream message, whether it was consumed singly or in a batch."""
    raw = message.raw_message
    if isinstance(raw, tuple | list):
        return list(raw)
    return [raw]
