"""The intake service: cases in over HTTP (api.py) and from `case.submitted`, out through the outbox;
where they stand in from the tracker's `case.status`."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Sequence
from functools import partial
from typing import Any

import asyncpg
from aiokafka.structs import ConsumerRecord
from fastapi import FastAPI
from faststream import AckPolicy
from faststream.kafka.annotations import KafkaMessage
from faststream.kafka.prometheus import KafkaPrometheusMiddleware
from prometheus_client import REGISTRY

from services.access import registry
from services.access.scopes import Client
from services.common.attempts import isolate_failures
from services.common.db import Conn
from services.common.deadletter import dead_letter_event, send_dead_letter
from services.common.field_errors import field_error
from services.common.http_edge import install_edge
from services.common.kafka import make_broker, publish, raw_body
from services.common.progress import ConsumerProgress, assignment_of, stalled_groups
from services.common.runtime import mount_operational_routes, on_changes, records_of, running
from services.common.settings import Settings
from services.common.topics import CASE_STATUS, CASE_SUBMITTED, DEADLETTER, ensure_topics
from services.intake import checks, metrics, partners
from services.intake.accept import Conflict, Outcome, Request, Secrets, accept_many
from services.intake.api import BATCH_PATH, install_api
from services.intake.kafka_in import Refused, Submitted, dead_letter_for, read_submitted
from services.intake.metrics import Via
from services.intake.outbox import broker_publisher, run_relay, watch_backlog
from services.intake.outbox_retention import Retention, run_purge
from services.intake.outcomes import StatusUnreadable, apply_status, read_status
from services.intake.privacy import Vault
from services.intake.store import open_store

log = logging.getLogger("xf.intake")
CONSUMER = "intake"
OUTCOMES_CONSUMER = "intake-outcomes"
# Settings that must not keep their shipped defaults outside development mode.
INTAKE_SECRETS = ("pseudonym_key", "vault_keys", "intake_dev_api_key")


class IntakeService:
    def __init__(self, settings: Settings) -> None:
        settings.require_own_secrets(INTAKE_SECRETS)
        self.settings = settings
        self.secrets = Secrets(
            pseudonym_key=settings.pseudonym_key.encode(),
            vault=Vault.from_spec(settings.vault_keys),
            timezone=settings.timezone,
        )
        self._pool: asyncpg.Pool | None = None
        self.kafka_ready = asyncio.Event()
        self.broker = make_broker(
            settings, CONSUMER, middlewares=[KafkaPrometheusMiddleware(registry=REGISTRY, app_name="xf_intake")]
        )
        # At least once: offsets are committed after the batch's transaction (and dead letters).
        self.progress: list[ConsumerProgress] = []
        for topics, group_id, handler in (
            ((CASE_SUBMITTED,), CONSUMER, self.on_submitted),
            ((CASE_STATUS,), OUTCOMES_CONSUMER, self.on_outcomes),
        ):
            subscriber = self.broker.subscriber(
                *(topic.name for topic in topics),
                group_id=group_id,
                batch=True,
                max_records=500,
                batch_timeout_ms=20,
                auto_offset_reset="earliest",
                ack_policy=AckPolicy.NACK_ON_ERROR,
                decoder=raw_body,
            )
            subscriber(handler)
            self.progress.append(
                ConsumerProgress(
                    settings, service="intake", group=group_id, topics=topics, assignment=assignment_of(subscriber)
                )
            )

    @property
    def pool(self) -> asyncpg.Pool:
        if self._pool is None:
            raise RuntimeError("intake is not started")
        return self._pool

    async def start(self) -> None:
        await self.read_rules()
        self._pool = await open_store(self.settings.dsn)
        async with self._pool.acquire() as conn:
            await registry.ensure_dev_client(conn, self.settings.dev_api_key, self.settings.dev_signing_key)
        if self.settings.dev_api_key:
            log.warning("development mode: the development API key is enabled (client 'dev')")

    async def read_rules(self) -> None:
        """The categories a deployment adds in rules/categories.yaml (DOMAIN.md §4.2) and its organisation
        directory: intake accepts only what the router can route. Read at start and on every change."""
        try:
            checks.use_rules(*await asyncio.to_thread(checks.deployment_rules, self.settings.rules_dir))
        except Exception as error:
            log.warning(
                "rules/ not read (%s): intake keeps the categories and directory it had (at start: the categories "
                "of DOMAIN.md §4.2 and any unit of a known region)",
                error,
            )

    async def stop(self) -> None:
        await self.broker.stop()
        if self._pool is not None:
            await self._pool.close()

    # --- cases in -------------------------------------------------------------------------------

    async def authenticate(self, conn: Conn, token: str) -> Client | None:
        return await registry.authenticate(conn, token)

    async def submit(self, conn: Conn, requests: Sequence[Request], *, via: Via) -> list[Outcome]:
        outcomes = await accept_many(conn, requests, secrets=self.secrets)
        for request, outcome in zip(requests, outcomes, strict=True):
            if isinstance(outcome, Conflict):
                metrics.SUBMISSIONS.labels(via, "conflict").inc()
            elif outcome.created:
                metrics.SUBMISSIONS.labels(via, "accepted").inc()
                metrics.CASES_RECEIVED.labels(request.submission.channel, request.submission.category, via).inc()
            else:
                metrics.SUBMISSIONS.labels(via, "already_accepted").inc()
        return outcomes

    async def on_submitted(self, body: Any, message: KafkaMessage) -> None:
        """Upstream systems' cases: the envelope id is the idempotency key, the signature names the client.
        A record whose acceptance keeps failing is dead-lettered after XF_CONSUMER_MAX_ATTEMPTS tries."""
        records = records_of(message)
        metrics.CONSUMED_BATCH.labels("submitted").observe(len(records))
        await isolate_failures(
            records,
            self.accept_records,
            self.give_up,
            attempts=self.settings.consumer_max_attempts,
            what="case.submitted records",
        )

    async def give_up(self, record: ConsumerRecord[bytes, bytes], error: Exception) -> None:
        internal = field_error(
            "",
            "record_failed",
            reason=f"internal error {type(error).__name__}",
            attempts=self.settings.consumer_max_attempts,
        )
        await self.refuse(record, Refused("internal", (internal,)))

    async def accept_records(self, records: Sequence[ConsumerRecord[bytes, bytes]]) -> None:
        async with self.pool.acquire() as conn:
            signed_by = await partners.signers(conn, records, tolerance=self.settings.signature_tolerance_seconds)
            read: list[Submitted | Refused] = [
                read_submitted(record.value, signer) if isinstance(signer, Client) else signer
                for record, signer in zip(records, signed_by, strict=True)
            ]
            good = [(index, item) for index, item in enumerate(read) if isinstance(item, Submitted)]
            outcomes = await self.submit(
                conn, [Request(item.submission, item.client.name, item.event_id) for _, item in good], via="kafka"
            )
        for (index, item), outcome in zip(good, outcomes, strict=True):
            if isinstance(outcome, Conflict):
                error = field_error("id", "idempotency_conflict", case_id=outcome.case_id)
                read[index] = Refused("conflict", (error,), item.event_id, item.source)
        await asyncio.gather(
            *(
                self.refuse(record, verdict)
                for record, verdict in zip(records, read, strict=True)
                if isinstance(verdict, Refused)
            )
        )

    async def refuse(self, record: ConsumerRecord[bytes, bytes], refused: Refused) -> None:
        if refused.reason != "conflict":  # conflicts were counted by submit()
            outcome = "invalid" if refused.reason in ("envelope", "invalid", "internal") else "forbidden"
            metrics.SUBMISSIONS.labels("kafka", outcome).inc()
        metrics.count_failures(refused.errors)
        metrics.DEAD_LETTERS.labels(refused.reason).inc()
        envelope = dead_letter_for(
            refused, topic=record.topic, partition=record.partition, offset=record.offset, consumer=CONSUMER
        )
        await send_dead_letter(partial(publish, self.broker, DEADLETTER.name), envelope)

    # --- outcomes in ----------------------------------------------------------------------------

    async def on_outcomes(self, body: Any, message: KafkaMessage) -> None:
        """The tracker's case.status events: where intake's cases stand (outcomes.py)."""
        records = records_of(message)
        metrics.CONSUMED_BATCH.labels("outcomes").observe(len(records))
        unreadable: list[tuple[ConsumerRecord[bytes, bytes], str]] = []
        async with self.pool.acquire() as conn, conn.transaction():
            for record in records:
                try:
                    event = read_status(record.value)
                except StatusUnreadable as error:
                    unreadable.append((record, str(error)))
                    metrics.OUTCOMES_SKIPPED.labels(record.topic, "malformed").inc()
                    continue
                if await apply_status(conn, event):
                    metrics.OUTCOMES_APPLIED.labels(event.data.cause.type).inc()
                else:
                    metrics.OUTCOMES_SKIPPED.labels(record.topic, "not_newer_or_unknown_case").inc()
        for record, reason in unreadable:
            letter = dead_letter_event(
                consumer=OUTCOMES_CONSUMER,
                topic=record.topic,
                partition=record.partition,
                offset=record.offset,
                reason=f"malformed: {reason}",
                payload=record.value or b"",
            )
            await send_dead_letter(partial(publish, self.broker, DEADLETTER.name), letter)

    # --- Kafka connection -----------------------------------------------------------------------

    async def connect_kafka(self) -> None:
        """Start the broker, retrying while Kafka is unreachable: HTTP intake works meanwhile."""
        backoff = 0.5
        while True:
            try:
                await ensure_topics(self.settings)
                await self.broker.start()
            except Exception as error:
                log.warning("Kafka not reachable yet (%s); retrying in %.1fs", error, backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 15.0)
                continue
            self.kafka_ready.set()
            return

    async def connect_then_relay(self) -> None:
        await self.connect_kafka()
        await run_relay(self.pool, broker_publisher(self.broker))

    async def watch_progress(self) -> None:
        await self.kafka_ready.wait()
        await asyncio.gather(*(progress.watch() for progress in self.progress))


def create_app(settings: Settings) -> FastAPI:
    service = IntakeService(settings)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await service.start()
        try:
            async with running(
                service.connect_then_relay(),
                watch_backlog(service.pool),
                run_purge(service.pool, Retention.from_settings(settings)),
                service.watch_progress(),
                on_changes(settings.rules_dir, service.read_rules, log),
            ):
                yield
        finally:
            await service.stop()

    app = FastAPI(
        title="xinfang intake 信访受理",
        version="1",
        description=API_DESCRIPTION,
        lifespan=lifespan,
    )
    app.state.service = service
    mount_operational_routes(app, stalled=lambda: stalled_groups(service.progress))
    install_api(app, settings)
    install_edge(app, settings, larger_bodies=[BATCH_PATH])
    return app


API_DESCRIPTION = """\
登记信访事项（来信、来访、网上、来电、电子邮件、领导信箱、上级转送、上级交办），查询办理状态和路由结果，
列出某单位的信访事项。

Registers petitions (信访事项) from reception desks, web and phone forms and upstream systems; tells a
case's status and routing; lists a unit's cases.

- **Authentication 认证**: every call needs an API key in the `X-API-Key` header (`xf intake client add`).
  Each key belongs to a client whose role and scopes say what it may submit and read.
- **Idempotency 幂等**: send an `Idempotency-Key` header (batch: `idempotency_key` per item). The same key
  with the same body answers with the same case (200); with another body it is a conflict (409), never
  a second case.
- **Durability 持久**: a 2xx answer means the case is stored in PostgreSQL and its `case.received`
  event is queued in the same transaction; it reaches Kafka even if Kafka is down at that moment.
- **Errors 错误**: every problem at once, each naming its field, in Chinese and English.
- Upstream systems may instead publish the same body on Kafka topic `case.submitted` in a
  CloudEvents envelope (`id` = idempotency key, `source` = their registered source); refusals go to
  `case.deadletter` with the reason, without the case's content.
"""
