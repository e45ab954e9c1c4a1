"""Events for the tracker's integration tests: envelopes as producers publish them (the benches build their own)."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, Literal, TypeVar
from zoneinfo import ZoneInfo

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from kafka_roles import publisher_options

from services.common.envelope import Envelope, to_bytes, wrap
from services.common.kafka import client_options, raw_headers
from services.common.lifecycle import LIFECYCLE_TYPE, LifecycleBody, parse_lifecycle
from services.common.schemas import Assignment, Decision, Disposition, Location, ReceivedCase, RoutedCase
from services.common.settings import Settings
from services.common.signing import Signer, service_signer

SHANGHAI = ZoneInfo("Asia/Shanghai")
T = TypeVar("T")


def case_id(prefix: str = "T") -> str:
    return f"XF{prefix}-{uuid.uuid4().hex[:16]}"


def received(
    case: str,
    at: datetime,
    *,
    received_by: str = "150627:petition",
    region: str = "150627107",
    people: int = 1,
    assignment_days: int | None = None,
) -> Envelope[ReceivedCase]:
    body = ReceivedCase(
        case_id=case,
        received_at=at,
        channel="assignment" if assignment_days else "visit",
        received_by=received_by,
        category="wage_arrears",
        location=Location(region=region),
        petitioner_key="p1_test-key-0001",
        people_count=people,
        assignment=Assignment(from_unit="150600:petition", due_days=assignment_days) if assignment_days else None,
    )
    return wrap(body, type="case.received", source="xinfang/intake", case_id=case)


def routed(
    case: str,
    received_at: datetime,
    routed_at: datetime,
    *,
    disposition: Disposition = "forward",
    unit: str = "150627:hrss",
    policy: str = "standard",
    report_hours: int | None = None,
    flags: Sequence[str] = ("first_time",),
) -> Envelope[RoutedCase]:
    body = RoutedCase(
        case_id=case,
        received_event_id=str(uuid.uuid4()),
        routed_at=routed_at,
        received_at=received_at,
        channel="visit",
        people_count=1,
        category="wage_arrears",
        region="150627107",
        decision=Decision(
            disposition=disposition,
            handling_unit=unit,
            handling_level="county",
            deadline_policy=policy,
            report_within_hours=report_hours,
            flags=list(flags),  # type: ignore[arg-type]
            trace=["test"],
            ruleset_version="sha256:test",
        ),
    )
    return wrap(body, type="case.routed", source="xinfang/router", case_id=case)


def lifecycle(case: str, type_: str, at: datetime, *, event_id: str | None = None, **fields: Any) -> Envelope[Any]:
    event = parse_lifecycle(
        {
            "event_id": event_id or str(uuid.uuid4()),
            "case_id": case,
            "type": type_,
            "at": at,
            "actor": "150627:hrss",
            **fields,
        }
    )
    return wrap(LifecycleBody(event), type=LIFECYCLE_TYPE, source="unit-system", case_id=case, event_id=event.event_id)


TOPIC_OF = {"case.received": "case.received", "case.routed": "case.routed", LIFECYCLE_TYPE: "case.lifecycle"}


# Lifecycle events are signed; by default these tests' events act with the tracker's own authority
# (partners' signatures and scopes are tested in test_tracker_partners_stack.py).
AS_TRACKER = "tracker"


async def publish(
    settings: Settings, envelopes: Sequence[Envelope[Any]], signer: Signer | Literal["tracker"] | None = AS_TRACKER
) -> None:
    """The envelopes on their topics, in order, from one producer: lifecycle events only as a unit's system."""
    # The key the stack generated, read now: `settings` may have been made before the stack wrote it.
    own_key = type(settings)(stack_dir=settings.stack_dir).event_signing_key
    sign = service_signer("tracker", own_key) if signer == AS_TRACKER else signer
    options = publisher_options(settings, *(TOPIC_OF[e.type] for e in envelopes))
    producer = AIOKafkaProducer(**options, enable_idempotence=True, acks="all")
    await producer.start()
    try:
        sends = []
        for e in envelopes:
            body = to_bytes(e)
            headers = raw_headers(e, body, sign if e.type == LIFECYCLE_TYPE else None)
            sends.append(await producer.send(TOPIC_OF[e.type], body, key=e.caseid.encode(), headers=headers))
        await asyncio.gather(*sends)
    finally:
        await producer.stop()


async def read_topic(
    settings: Settings, topic: str, *, keys: set[str], settle: float = 2.0, timeout: float = 30.0
) -> list[dict[str, Any]]:
    """Every event on `topic` keyed by one of `keys`, waiting until none came for `settle` seconds."""
    consumer = AIOKafkaConsumer(
        topic, **client_options(settings), auto_offset_reset="earliest", enable_auto_commit=False
    )
    await consumer.start()
    found: list[dict[str, Any]] = []
    try:
        deadline = time.monotonic() + timeout
        quiet_since = time.monotonic()
        while time.monotonic() < deadline:
            batches = await consumer.getmany(timeout_ms=300)
            got = False
            for records in batches.values():
                for record in records:
                    if record.key is not None and record.key.decode() in keys:
                        found.append(json.loads(record.value or b""))
                        got = True
            if got:
                quiet_since = time.monotonic()
            elif found and time.monotonic() - quiet_since > settle:
                break
    finally:
        await consumer.stop()
    return found


def days_ago(days: float, now: datetime | None = None) -> datetime:
    return (now or datetime.now(SHANGHAI)) - timedelta(days=days)
