"""The campaign's load: demo cases submitted over HTTP and on `case.submitted`, paced over the load
phase, and the handling units' lifecycle events for every case once the tracker has it routed.

Clients behave as careful partners do: an HTTP submission is sent again with the same idempotency key
until intake answers it (a refused connection, 5xx, 503 or 429 are retried with a backoff); a Kafka
record is sent again, with the same event id, until Kafka acknowledges it. So a case is lost only if the
system loses it, never because the client gave up early.
"""

from __future__ import annotations

import asyncio
import heapq
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import asyncpg
import httpx

from services.common.envelope import to_bytes, wrap
from services.common.lifecycle import LIFECYCLE_TYPE, LifecycleBody, LifecycleEvent
from services.common.settings import Settings
from services.common.topics import CASE_LIFECYCLE, CASE_SUBMITTED
from services.demo.lifecycle import TrackedCase
from services.demo.session import _TRACKED, SOURCE, Options, _plans, limits_of, submissions
from services.faults.partners import Partner
from services.faults.send import Outgoing, Publisher

Log = Callable[[str], None]
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
MAX_BACKOFF = 2.0


@dataclass
class Sent:
    """What the load sent, keyed by idempotency key (HTTP) or event id (Kafka): the campaign's side."""

    http: dict[str, str] = field(default_factory=dict)  # key → case id from intake's 2xx answer
    http_refused: dict[str, str] = field(default_factory=dict)  # key → the last answer, never 2xx
    kafka: dict[str, int] = field(default_factory=dict)  # event id → offset on case.submitted
    kafka_unacknowledged: dict[str, str] = field(default_factory=dict)
    http_retries: int = 0
    lifecycle: dict[str, str] = field(default_factory=dict)  # event id → case id (acknowledged)
    lifecycle_unacknowledged: int = 0
    planned: set[str] = field(default_factory=set)  # case ids whose units' events were planned


class Load:
    def __init__(
        self,
        settings: Settings,
        *,
        cases: int,
        seconds: float,
        seed: int,
        run: str,
        upstream: Partner,
        units: Partner,
        upstream_source: str,
        kafka_share: float,
        concurrency: int,
        log: Log,
    ) -> None:
        self.settings = settings
        self.options = Options(cases=cases, seed=seed, mistake_share=0.0, live_share=0.05, live_seconds=5.0)
        self.seconds = seconds
        self.run = run
        self.upstream = upstream
        self.units = units
        self.upstream_source = upstream_source
        self.kafka_share = kafka_share
        self.concurrency = concurrency
        self.log = log
        self.sent = Sent()
        self.items = submissions(self.options, datetime.now(UTC), settings.timezone, run)
        self.submitted = asyncio.Event()

    def via_kafka(self, index: int) -> bool:
        return self.kafka_share > 0 and index % round(1 / self.kafka_share) == 0

    # --- submissions -------------------------------------------------------------------------------

    async def submit(self, deadline: float) -> None:
        """Every submission, paced over the load phase; returns once each is answered or the deadline passed."""
        queue: asyncio.Queue[tuple[str, dict[str, Any]] | None] = asyncio.Queue()
        kafka: list[tuple[str, dict[str, Any]]] = []
        publisher = Publisher(self.upstream.principal)
        await publisher.start(deadline)
        started = time.monotonic()
        step = self.seconds / max(len(self.items), 1)
        async with httpx.AsyncClient(
            base_url=f"http://{self.settings.host}:{self.settings.intake_port}", timeout=30
        ) as client:
            workers = [asyncio.create_task(self._http_worker(client, queue, deadline)) for _ in range(self.concurrency)]
            flushing: list[asyncio.Task[None]] = []
            for index, item in enumerate(self.items):
                await asyncio.sleep(max(0.0, started + index * step - time.monotonic()))
                if self.via_kafka(index):
                    kafka.append(item)
                    if len(kafka) >= 20:
                        flushing.append(asyncio.create_task(self._publish(publisher, kafka, deadline)))
                        kafka = []
                else:
                    await queue.put(item)
            if kafka:
                flushing.append(asyncio.create_task(self._publish(publisher, kafka, deadline)))
            for _ in workers:
                await queue.put(None)
            await asyncio.gather(*workers, *flushing)
        await publisher.stop()
        self.submitted.set()

    async def _http_worker(
        self, client: httpx.AsyncClient, queue: asyncio.Queue[tuple[str, dict[str, Any]] | None], deadline: float
    ) -> None:
        while (item := await queue.get()) is not None:
            key, body = item
            backoff = 0.2
            while True:
                try:
                    answer = await client.post(
                        "/v1/cases",
                        content=json.dumps(body, ensure_ascii=False).encode(),
                        headers={
                            "X-API-Key": self.settings.intake_dev_api_key,
                            "Idempotency-Key": key,
                            "content-type": "application/json",
                        },
                    )
                    if answer.status_code in (200, 201):
                        self.sent.http[key] = answer.json()["case_id"]
                        break
                    last = f"HTTP {answer.status_code}: {answer.text[:200]}"
                    if answer.status_code not in RETRY_STATUSES:
                        self.sent.http_refused[key] = last
                        break
                    backoff = max(backoff, _retry_after(answer))
                except httpx.HTTPError as error:
                    last = f"{type(error).__name__}: {error}"[:200]
                if time.monotonic() > deadline:
                    self.sent.http_refused[key] = f"gave up at the deadline; last: {last}"
                    break
                self.sent.http_retries += 1
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF)

    async def _publish(self, publisher: Publisher, items: list[tuple[str, dict[str, Any]]], deadline: float) -> None:
        records = []
        for key, body in items:
            value = self._submitted(key, body)
            records.append(Outgoing(CASE_SUBMITTED.name, value, key.encode(), self.upstream.headers(key, value)))
        for (key, _), delivery in zip(items, await publisher.send_all(records, deadline), strict=True):
            if delivery.offset is not None:
                self.sent.kafka[key] = delivery.offset
            else:
                self.sent.kafka_unacknowledged[key] = delivery.error or "?"

    def _submitted(self, key: str, body: dict[str, Any]) -> bytes:
        envelope = {
            "specversion": "1.0",
            "id": key,
            "type": "case.submitted",
            "source": self.upstream_source,
            "time": datetime.now(UTC).isoformat(),
            "caseid": "unassigned",
            "data": body,
        }
        return json.dumps(envelope, ensure_ascii=False).encode()

    # --- the units' lifecycle events -----------------------------------------------------------------

    async def play_units(self, stop: asyncio.Event, deadline: float) -> None:
        """Plan the units' events of each case once the tracker has it routed, and publish each when due,
        until `stop` is set and every planned event is out (or the deadline passes)."""
        limits = await asyncio.to_thread(limits_of, self.settings)
        publisher = Publisher(self.units.principal)
        await publisher.start(deadline)
        due: list[tuple[float, int, LifecycleEvent]] = []
        counter = 0
        next_poll = 0.0
        try:
            while time.monotonic() < deadline:
                stopping = stop.is_set()
                if time.monotonic() >= next_poll:
                    next_poll = time.monotonic() + 1.0
                    routed = await self._newly_routed()
                    self.sent.planned.update(case.case_id for case in routed)
                    # A batch at a time, so that the demo's scenarios are dealt in their shares.
                    history, live = _plans(routed, self.options, time.time(), limits) if routed else ([], [])
                    for event in [e for events in history for e in events]:
                        heapq.heappush(due, (0.0, counter := counter + 1, event))
                    for event in live:
                        heapq.heappush(due, (event.at.timestamp(), counter := counter + 1, event))
                ready = []
                while due and due[0][0] <= time.time():
                    ready.append(heapq.heappop(due)[2])
                if ready:
                    await self._publish_events(publisher, ready, deadline)
                if stopping and not due:
                    return
                await asyncio.sleep(0.2)
        finally:
            await publisher.stop()

    async def _newly_routed(self) -> list[TrackedCase]:
        try:
            conn = await asyncpg.connect(self.settings.dsn, timeout=5)
        except (TimeoutError, OSError, asyncpg.PostgresError):
            return []  # PostgreSQL is restarting: next round
        try:
            ids = await conn.fetch("SELECT case_id FROM intake.cases WHERE idempotency_key LIKE $1", f"%{self.run}%")
            fresh = [r["case_id"] for r in ids if r["case_id"] not in self.sent.planned]
            rows = await conn.fetch(_TRACKED, fresh) if fresh else []
        except (OSError, asyncpg.PostgresError):
            return []
        finally:
            await conn.close()
        return [TrackedCase(**dict(row)) for row in rows]

    async def _publish_events(self, publisher: Publisher, events: list[LifecycleEvent], deadline: float) -> None:
        records = []
        for event in events:
            envelope = wrap(
                LifecycleBody(event), type=LIFECYCLE_TYPE, source=SOURCE, case_id=event.case_id, event_id=event.event_id
            )
            value = to_bytes(envelope)
            records.append(
                Outgoing(CASE_LIFECYCLE.name, value, event.case_id.encode(), self.units.headers(event.event_id, value))
            )
        for event, delivery in zip(events, await publisher.send_all(records, deadline), strict=True):
            if delivery.delivered:
                self.sent.lifecycle[event.event_id] = event.case_id
            else:
                self.sent.lifecycle_unacknowledged += 1


def _retry_after(answer: httpx.Response) -> float:
    """The seconds a 429 or 503 asks the client to wait (`Retry-After`), within the backoff's bound."""
    value = answer.headers.get("retry-after", "")
    return min(float(value), 10.0) if value.isdigit() else 0.0
