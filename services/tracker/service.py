"""The tracker service: wiring only. Events in (consumer), alerts out (scanner), units' API, gauges."""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
from aiokafka import AIOKafkaProducer
from fastapi import FastAPI
from faststream import AckPolicy
from faststream.kafka.annotations import KafkaMessage
from faststream.kafka.prometheus import KafkaPrometheusMiddleware
from prometheus_client import REGISTRY

from services.common.db import create_pool, migrate
from services.common.envelope import Envelope
from services.common.http_edge import install_edge
from services.common.kafka import make_broker, make_producer, publish, raw_body, send_all
from services.common.progress import ConsumerProgress, assignment_of, stalled_groups
from services.common.runtime import every, records_of, service_app
from services.common.settings import Settings
from services.common.signing import service_signer
from services.common.topics import CASE_LIFECYCLE, CASE_RECEIVED, CASE_ROUTED, ensure_topics
from services.tracker import gauges, scanner
from services.tracker.api import install_api
from services.tracker.auth import Registry
from services.tracker.consumer import CONSUMER, Consumer, Record
from services.tracker.partners import SERVICE, Partners
from services.tracker.policy import DeadlinePolicies
from services.tracker.records import PolicyResolver
from services.tracker.reload import RuleReloader, load_policies_at_start, use_directory_at_start

log = logging.getLogger("xf.tracker")
MIGRATIONS = Path(__file__).parent / "migrations"
CONSUMED = (CASE_RECEIVED, CASE_ROUTED, CASE_LIFECYCLE)


# What the tracker signs on case.lifecycle with; a shipped default only in development mode.
TRACKER_SECRETS = ("event_signing_key",)


class TrackerService:
    def __init__(self, settings: Settings) -> None:
        settings.require_own_secrets(TRACKER_SECRETS)
        self.settings = settings
        policies, deadlines_stamp = load_policies_at_start(settings.rules_dir)
        # Supervising units from rules/directory.yaml (the router's loader), else docs/domain.md §4's rule.
        directory_stamp = use_directory_at_start(settings.rules_dir)
        self.resolver = PolicyResolver(policies)
        self.timezone = policies.timezone
        # rules/ edited while running: new policies for new clocks, a new directory for escalations.
        self.reloader = RuleReloader(
            settings.rules_dir,
            self.resolver,
            deadlines_stamp=deadlines_stamp,
            directory_stamp=directory_stamp,
            on_policies=self.use_timezone,
        )
        self.instance = settings.tracker_instance or f"{socket.gethostname()}:{settings.tracker_port}:{os.getpid()}"
        self._pool: asyncpg.Pool | None = None
        self._registry: Registry | None = None
        # What the tracker publishes on case.lifecycle is signed, so that no partner can pass as it.
        self.signer = service_signer(SERVICE, settings.event_signing_key)
        self.partners = Partners(None, settings.event_signing_key, settings.signature_tolerance_seconds)
        self.broker = make_broker(
            settings,
            CONSUMER,
            middlewares=[KafkaPrometheusMiddleware(registry=REGISTRY, app_name="xf_tracker")],
        )
        self.producer: AIOKafkaProducer | None = None  # what the consumer's batches publish (send_all)
        self.consumer = Consumer(
            self.resolver, self.publish_all, self.partners, max_attempts=settings.consumer_max_attempts
        )
        subscriber = self.broker.subscriber(
            *(topic.name for topic in CONSUMED),
            group_id=CONSUMER,
            batch=True,
            max_records=settings.tracker_consumer_batch,
            batch_timeout_ms=20,
            auto_offset_reset="earliest",
            ack_policy=AckPolicy.NACK_ON_ERROR,
            decoder=raw_body,
        )
        subscriber(self.on_records)
        self.progress = ConsumerProgress(
            settings, service=CONSUMER, group=CONSUMER, topics=CONSUMED, assignment=assignment_of(subscriber)
        )

    @property
    def pool(self) -> asyncpg.Pool:
        assert self._pool is not None, "the tracker has not started"
        return self._pool

    @property
    def registry(self) -> Registry:
        assert self._registry is not None, "the tracker has not started"
        return self._registry

    async def publish(self, topic: str, envelope: Envelope[Any]) -> None:
        await publish(self.broker, topic, envelope, self.signer if topic == CASE_LIFECYCLE.name else None)

    async def publish_all(self, items: Sequence[tuple[str, Envelope[Any]]]) -> None:
        """A batch's messages (a case.status per applied event, dead letters, conclusions) at once."""
        assert self.producer is not None, "the tracker has not started"
        signed = [(topic, envelope, self.signer if topic == CASE_LIFECYCLE.name else None) for topic, envelope in items]
        await send_all(self.producer, signed)

    async def on_records(self, body: Any, message: KafkaMessage) -> None:
        records = [
            Record(r.topic, r.value or b"", r.partition, r.offset, tuple(r.headers), r.timestamp, r.timestamp_type)
            for r in records_of(message)
        ]
        # Offsets are committed when this returns: after the batch's database transaction.
        await self.consumer.handle(self.pool, records)

    async def start(self) -> None:
        self._pool = await create_pool(self.settings.dsn, "tracker", max_size=10)
        await migrate(self._pool, "tracker", MIGRATIONS)
        await self._pool.execute("UPDATE deployment SET timezone = $1", str(self.timezone))
        self._registry = Registry(await create_pool(self.settings.dsn, "intake", max_size=4))
        self.partners.pool = self._registry.pool
        await ensure_topics(self.settings)
        self.producer = make_producer(self.settings, f"{CONSUMER}-out", linger_ms=5)
        await self.producer.start()
        await self.broker.start()

    async def stop(self) -> None:
        await self.broker.stop()
        if self.producer is not None:
            await self.producer.stop()
        if self._registry is not None:
            await self._registry.pool.close()
        if self._pool is not None:
            await self._pool.close()

    async def use_timezone(self, policies: DeadlinePolicies) -> None:
        """The deployment's timezone of reloaded policies: for the alerts and the views' days."""
        if str(policies.timezone) != str(self.timezone):
            self.timezone = policies.timezone
            await self.pool.execute("UPDATE deployment SET timezone = $1", str(self.timezone))

    async def run_scanner(self) -> None:
        """Raise due alerts and refuse events parked too long, every `tracker_scan_interval` seconds."""
        settings = self.settings

        async def scan() -> None:  # a failed round committed nothing; the next one tries again
            now = datetime.now(UTC)
            await scanner.scan_until_done(
                self.pool,
                self.publish,
                now=now,
                limit=settings.tracker_scan_batch,
                instance=self.instance,
                tz=self.timezone,
            )
            cutoff = scanner.hold_cutoff(now, settings.tracker_hold_seconds)
            while await self.consumer.expire_parked(self.pool, parked_before=cutoff, limit=100) == 100:
                pass

        await every(settings.tracker_scan_interval, scan, log, "deadline scan", trace=True)


def create_app(settings: Settings) -> FastAPI:
    service = TrackerService(settings)
    app = service_app(
        service,
        title="xinfang tracker 信访事项跟踪",
        description=API_DESCRIPTION,
        chores=lambda: [
            service.run_scanner(),
            service.progress.watch(),
            gauges.keep_fresh(service.pool, service.progress, settings.tracker_gauge_interval),
            service.reloader.watch(),
        ],
        stalled=lambda: stalled_groups([service.progress]),
    )
    install_api(app)
    install_edge(app, settings, check_json=True)
    return app

API_DESCRIPTION = """\
为没有自有办理系统的单位记录办理环节（受理、不予受理、延期、中止、恢复、答复、复查、复核），并查询本单位及下级单位
未办结信访事项的期限。

For units without a case system of their own: record what they did on a case (accept, reject, extend,
pause, resume, reply, review, re-review, reports) and read their open cases with the legal deadlines.

- **Authentication 认证**: the `X-API-Key` of an intake client (`xf intake client add`); recording needs
  the submit right with the acting unit in the client's submit scope, reading needs the read right.
- **One path 同一路径**: an action is checked against the case's current stage, then published on
  `case.lifecycle` exactly as a unit's own system would publish it, and applied from there (202).
  A later conflicting event is refused and dead-lettered with the reason.
- **Idempotency 幂等**: an `Idempotency-Key` header makes a retried action count once.
- **Deadlines 期限**: statuses (`open`, `due_soon`, `overdue`, `paused`, `met`, `late`) are those of
  `xf deadlines` at the moment of the request.
"""
