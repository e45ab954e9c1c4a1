"""The intake service: cases in over HTTP and from `case.submitted`, out through the outbox."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
from fastapi import FastAPI, Header, HTTPException, Request
from fastapi.responses import JSONResponse
from faststream import AckPolicy
from faststream.kafka.annotations import KafkaMessage
from faststream.kafka.prometheus import KafkaPrometheusMiddleware
from prometheus_client import REGISTRY, Counter

from services.common.db import create_pool, migrate
from services.common.kafka import dead_letter, make_broker, raw_body
from services.common.runtime import mount_operational_routes, records_of
from services.common.settings import Settings
from services.common.topics import CASE_SUBMITTED, ensure_topics
from services.intake import store
from services.intake.accept import Accepted, IdempotencyConflict, Secrets, accept
from services.intake.errors import FieldError, SubmissionInvalid
from services.intake.outbox import run_relay
from services.intake.privacy import Vault
from services.intake.submission import Submission
from services.intake.validation import validate_submission

log = logging.getLogger("xf.intake")
CONSUMER = "intake"
MIGRATIONS = Path(__file__).parent / "migrations"

CASES_ACCEPTED = Counter(
    "xf_intake_cases_accepted_total", "Cases accepted, by channel and category", ["channel", "category", "via"]
)
VALIDATION_FAILURES = Counter(
    "xf_intake_validation_failures_total", "Refused submissions, by field and error code", ["field", "code"]
)


def count_failures(errors: list[FieldError]) -> None:
    for error in errors:
        VALIDATION_FAILURES.labels(error.field, error.code).inc()


class IntakeService:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.secrets = Secrets(
            pseudonym_key=settings.pseudonym_key.encode(),
            vault=Vault.from_spec(settings.vault_keys),
            timezone=settings.timezone,
        )
        self.pool: asyncpg.Pool | None = None
        self.kafka_ready = asyncio.Event()
        self.broker = make_broker(
            settings, CONSUMER, middlewares=[KafkaPrometheusMiddleware(registry=REGISTRY, app_name="xf_intake")]
        )
        self.broker.subscriber(
            CASE_SUBMITTED.name,
            group_id=CONSUMER,
            auto_offset_reset="earliest",
            ack_policy=AckPolicy.NACK_ON_ERROR,
            decoder=raw_body,
        )(self.on_submitted)

    async def submit(self, submission: Submission, *, client: str, key: str | None, via: str) -> Accepted:
        assert self.pool is not None
        async with self.pool.acquire() as conn:
            accepted = await accept(conn, submission, client=client, idempotency_key=key, secrets=self.secrets)
        if accepted.created:
            CASES_ACCEPTED.labels(submission.channel, submission.category, via).inc()
        return accepted

    async def on_submitted(self, body: Any, message: KafkaMessage) -> None:
        """Upstream systems' cases: the envelope id is the idempotency key, the source the client."""
        for record in records_of(message):
            try:
                envelope = json.loads(record.value or b"")
                event_id, source = str(envelope["id"]), str(envelope["source"])
                data = envelope["data"]
            except (ValueError, KeyError, TypeError) as error:
                reason = f"not a case.submitted envelope (needs id, source, data): {type(error).__name__}"
                await self.refuse(record.topic, record.partition, record.offset, reason)
                continue
            try:
                submission = validate_submission(data)
            except SubmissionInvalid as invalid:
                count_failures(invalid.errors)
                reason = "; ".join(f"{e.field}: {e.message_en}" for e in invalid.errors)
                await self.refuse(record.topic, record.partition, record.offset, reason)
                continue
            try:
                await self.submit(submission, client=f"kafka:{source}", key=event_id, via="kafka")
            except IdempotencyConflict as conflict:
                await self.refuse(record.topic, record.partition, record.offset, str(conflict))

    async def refuse(self, topic: str, partition: int, offset: int, reason: str) -> None:
        # The payload holds personal data: the dead letter carries the reason and the position only.
        await dead_letter(
            self.broker,
            consumer=CONSUMER,
            reason=reason,
            topic=topic,
            payload=f"{topic}/{partition}@{offset}".encode(),
        )

    async def connect_kafka(self) -> None:
        """Start the broker, retrying while Kafka is unreachable: HTTP intake works meanwhile."""
        backoff = 0.5
        while True:
            try:
                await ensure_topics(self.settings.bootstrap_servers)
                await self.broker.start()
            except Exception as error:
                log.warning("Kafka not reachable yet (%s); retrying in %.1fs", error, backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 15.0)
                continue
            self.kafka_ready.set()
            return


def create_app(settings: Settings) -> FastAPI:
    service = IntakeService(settings)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        service.pool = await create_pool(settings.dsn, "intake")
        await migrate(service.pool, "intake", MIGRATIONS)

        async def connect_then_relay() -> None:
            await service.connect_kafka()
            assert service.pool is not None
            await run_relay(service.pool, service.broker)

        background = asyncio.create_task(connect_then_relay())
        try:
            yield
        finally:
            background.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await background
            await service.broker.stop()
            await service.pool.close()

    app = FastAPI(
        title="xinfang intake",
        description="Registers petitions (信访事项) from reception desks, web and phone forms and upstream systems.",
        lifespan=lifespan,
    )
    app.state.service = service
    mount_operational_routes(app)

    @app.post("/v1/cases", status_code=201)
    async def submit_case(
        request: Request, idempotency_key: str | None = Header(default=None, max_length=200)
    ) -> JSONResponse:
        try:
            submission = validate_submission(await request.body())
        except SubmissionInvalid as invalid:
            count_failures(invalid.errors)
            return JSONResponse(invalid.to_dict(), status_code=422)
        try:
            accepted = await service.submit(submission, client="http", key=idempotency_key, via="http")
        except IdempotencyConflict as conflict:
            return JSONResponse(
                {
                    "errors": [
                        {
                            "field": "Idempotency-Key",
                            "code": "idempotency_conflict",
                            "message_en": str(conflict),
                            "message_zh": f"幂等键已用于另一内容不同的信访事项 {conflict.case_id}",
                        }
                    ]
                },
                status_code=409,
            )
        return JSONResponse(
            {"case_id": accepted.case_id, "status": "accepted" if accepted.created else "already_accepted"},
            status_code=201 if accepted.created else 200,
        )

    @app.get("/v1/cases/{case_id}")
    async def case_status(case_id: str) -> dict[str, Any]:
        assert service.pool is not None
        async with service.pool.acquire() as conn:
            row = await store.case_status(conn, case_id)
        if row is None:
            raise HTTPException(status_code=404, detail=f"no case {case_id}")
        return {
            "case_id": row["case_id"],
            "received_at": store.as_timestamp(row["received_at"]),
            "channel": row["channel"],
            "category": row["category"],
            "region": row["region"],
            "received_by": row["received_by"],
            "people_count": row["people_count"],
            "status": row["status"],
            "merged_into": row["merged_into"],
            "published_at": store.as_timestamp(row["published_at"]),
        }

    return app
