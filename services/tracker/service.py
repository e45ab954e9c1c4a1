"""The tracker service: received, routed and lifecycle events → case state and clocks in PostgreSQL."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import asyncpg
from fastapi import FastAPI
from faststream import AckPolicy
from faststream.kafka.annotations import KafkaMessage
from faststream.kafka.prometheus import KafkaPrometheusMiddleware
from prometheus_client import REGISTRY
from pydantic import BaseModel, ValidationError

from services.common.db import Conn, create_pool, migrate
from services.common.envelope import Envelope
from services.common.errors import describe_validation_error
from services.common.kafka import dead_letter, make_broker, raw_body
from services.common.runtime import mount_operational_routes, records_of
from services.common.schemas import ReceivedCase, RoutedCase
from services.common.settings import Settings
from services.common.topics import CASE_RECEIVED, CASE_ROUTED, ensure_topics
from services.tracker import metrics
from services.tracker.apply import ClockPlanner, apply_received, apply_routed
from services.tracker.clocks import PolicyClockPlanner

log = logging.getLogger("xf.tracker")
CONSUMER = "tracker"
MIGRATIONS = Path(__file__).parent / "migrations"

Applier = Callable[[Conn, Any, ClockPlanner], Awaitable[bool]]
HANDLERS: dict[str, tuple[type[BaseModel], str, Applier]] = {
    CASE_RECEIVED.name: (ReceivedCase, "case.received", apply_received),
    CASE_ROUTED.name: (RoutedCase, "case.routed", apply_routed),
}


class TrackerService:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.pool: asyncpg.Pool | None = None
        self.clocks = PolicyClockPlanner.from_rules(settings.rules_dir)
        self.broker = make_broker(
            settings,
            CONSUMER,
            middlewares=[KafkaPrometheusMiddleware(registry=REGISTRY, app_name="xf_tracker")],
        )
        self.broker.subscriber(
            *HANDLERS,
            group_id=CONSUMER,
            auto_offset_reset="earliest",
            ack_policy=AckPolicy.NACK_ON_ERROR,
            decoder=raw_body,
        )(self.on_event)

    async def on_event(self, body: Any, message: KafkaMessage) -> None:
        assert self.pool is not None
        for record in records_of(message):
            model, expected_type, applier = HANDLERS[record.topic]
            try:
                event = Envelope[model].model_validate_json(record.value or b"")  # type: ignore[valid-type]
                if event.type != expected_type:
                    raise ValueError(f"type: expected {expected_type!r}, got {event.type!r}")
            except (ValidationError, ValueError) as error:
                reason = describe_validation_error(error) if isinstance(error, ValidationError) else str(error)
                metrics.EVENTS_REFUSED.labels(expected_type, "malformed").inc()
                await dead_letter(
                    self.broker, consumer=CONSUMER, reason=reason, topic=record.topic, payload=record.value
                )
                continue
            # The offset is committed after this transaction: a crash before it replays the event,
            # and claim_event makes the replay a no-op.
            async with self.pool.acquire() as conn, conn.transaction():
                applied = await applier(conn, event, self.clocks)
            if applied:
                metrics.EVENTS_APPLIED.labels(event.type).inc()
            else:
                metrics.EVENTS_DUPLICATE.labels(event.type).inc()

    async def refresh_gauges(self) -> None:
        assert self.pool is not None
        rows = await self.pool.fetch(
            """SELECT stage, coalesce(handling_level, 'unrouted') AS level, count(*) AS n
               FROM cases WHERE NOT closed GROUP BY 1, 2"""
        )
        metrics.OPEN_CASES.clear()
        for row in rows:
            metrics.OPEN_CASES.labels(row["stage"], row["level"]).set(row["n"])
        clocks = await self.pool.fetch(
            "SELECT stage, count(*) AS n FROM clocks WHERE completed_at IS NULL GROUP BY stage"
        )
        metrics.RUNNING_CLOCKS.clear()
        for row in clocks:
            metrics.RUNNING_CLOCKS.labels(row["stage"]).set(row["n"])

    async def keep_gauges_fresh(self, every: float = 5.0) -> None:
        while True:
            try:
                await self.refresh_gauges()
            except Exception as error:  # a metrics refresh must never take the service down
                log.warning("gauge refresh failed: %s", error)
            await asyncio.sleep(every)


def create_app(settings: Settings) -> FastAPI:
    service = TrackerService(settings)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        service.pool = await create_pool(settings.dsn, "tracker")
        await migrate(service.pool, "tracker", MIGRATIONS)
        await ensure_topics(settings.bootstrap_servers)
        await service.broker.start()
        gauges = asyncio.create_task(service.keep_gauges_fresh())
        try:
            yield
        finally:
            gauges.cancel()
            await service.broker.stop()
            await service.pool.close()

    app = FastAPI(title="xinfang tracker", lifespan=lifespan)
    app.state.service = service
    mount_operational_routes(app)
    return app
