"""The router service: `case.received` in batches → rules → `case.routed`, with hot rule reload."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

from fastapi import FastAPI
from faststream import AckPolicy
from faststream.kafka.annotations import KafkaMessage
from faststream.kafka.prometheus import KafkaPrometheusMiddleware
from prometheus_client import REGISTRY
from watchfiles import awatch

from services.common.envelope import now
from services.common.kafka import dead_letter, make_broker, publish, raw_body
from services.common.runtime import mount_operational_routes, records_of
from services.common.settings import Settings
from services.common.topics import CASE_RECEIVED, CASE_ROUTED, ensure_topics
from services.router import metrics
from services.router.pipeline import Malformed, parse_received, routed_event
from services.router.rules import Router, RoutingError, RuleError, load_rules

log = logging.getLogger("xf.router")
CONSUMER = "router"


class RouterService:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.broker = make_broker(
            settings,
            CONSUMER,
            middlewares=[KafkaPrometheusMiddleware(registry=REGISTRY, app_name="xf_router")],
        )
        rules = load_rules(settings.rules_dir)
        self.router = Router(rules)
        self._record_ruleset(rules.version)
        self.broker.subscriber(
            CASE_RECEIVED.name,
            group_id=CONSUMER,
            batch=True,
            max_records=500,
            batch_timeout_ms=20,
            auto_offset_reset="earliest",
            ack_policy=AckPolicy.NACK_ON_ERROR,
            decoder=raw_body,
        )(self.on_received)

    @staticmethod
    def _record_ruleset(version: str) -> None:
        metrics.RULESET.info({"version": version})
        metrics.RULESET_LOADED_AT.set_to_current_time()

    async def on_received(self, body: Any, message: KafkaMessage) -> None:
        publishes = []
        for record in records_of(message):
            parsed = parse_received(record.value or b"")
            if isinstance(parsed, Malformed):
                metrics.DEAD_LETTERS.labels("malformed").inc()
                await dead_letter(
                    self.broker,
                    consumer=CONSUMER,
                    reason=parsed.reason,
                    topic=record.topic,
                    payload=record.value,
                    case_id=parsed.case_id,
                )
                continue
            started = time.perf_counter()
            try:
                decision = self.router.decide(parsed.data)
            except RoutingError as error:
                metrics.DEAD_LETTERS.labels("undecidable").inc()
                await dead_letter(
                    self.broker,
                    consumer=CONSUMER,
                    reason=f"no decision: {error}",
                    topic=record.topic,
                    payload=record.value,
                    case_id=parsed.caseid,
                )
                continue
            metrics.DECISION_SECONDS.observe(time.perf_counter() - started)
            metrics.DECISIONS.labels(
                decision.disposition, decision.handling_level or "none", decision.urgency
            ).inc()
            for rule_id in decision.trace:
                metrics.RULE_HITS.labels(rule_id).inc()
            publishes.append(publish(self.broker, CASE_ROUTED.name, routed_event(parsed, decision, now())))
        # Offsets are committed when this returns, so every routed event is acknowledged first.
        await asyncio.gather(*publishes)

    def reload(self) -> bool:
        """Compile the rules again; swap them in only if they are valid."""
        try:
            rules = load_rules(self.settings.rules_dir)
        except RuleError as error:
            metrics.RELOADS.labels("refused").inc()
            log.error("refused new rules, still routing with the last good version:\n%s", error)
            return False
        self.router.swap(rules)
        self._record_ruleset(rules.version)
        metrics.RELOADS.labels("applied").inc()
        log.info("rules reloaded, version %s", rules.version)
        return True

    async def watch_rules(self) -> None:
        async for _changes in awatch(self.settings.rules_dir, debounce=300, recursive=True):
            self.reload()


def create_app(settings: Settings) -> FastAPI:
    service = RouterService(settings)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await ensure_topics(settings.bootstrap_servers)
        await service.broker.start()
        watcher = asyncio.create_task(service.watch_rules())
        try:
            yield
        finally:
            watcher.cancel()
            await service.broker.stop()

    app = FastAPI(title="xinfang router", lifespan=lifespan)
    app.state.service = service
    mount_operational_routes(app)
    return app
