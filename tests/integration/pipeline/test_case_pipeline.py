"""One case from HTTP to the tracker's tables and metrics, through the real Kafka and PostgreSQL,
asserting what each hop produced."""

from __future__ import annotations

import json
import time
from datetime import date
from typing import Any, TypeVar

import asyncpg
import httpx
from aiokafka import AIOKafkaConsumer
from polling import eventually

from services.common.kafka import client_options
from services.common.settings import Settings
from services.intake.identity import id_number_check_char

T = TypeVar("T")

ID_NUMBER = "15062719850312123" + id_number_check_char("15062719850312123")
SUBMISSION: dict[str, Any] = {
    "channel": "visit",
    "received_by": "150627:petition",
    "category": "wage_arrears",
    "location": {"region": "150627107", "address": "札萨克镇某工地宿舍"},
    "petitioner": {"kind": "person", "name": "测试乙", "id_number": ID_NUMBER, "phone": "13912345678"},
    "people_count": 6,
    "litigation": "none",
    "summary": "某建筑工地拖欠农民工工资约三个月。",
    "content": "测试乙等六人反映工资被拖欠，联系电话13912345678。",
    "received_at": "2026-05-06T09:30:00+08:00",
}
PERSONAL_VALUES = (ID_NUMBER, "测试乙", "13912345678", "札萨克镇某工地宿舍")


def auth(settings: Settings, idempotency_key: str | None = None) -> dict[str, str]:
    """Headers with the development client's API key (XF_INTAKE_DEV_API_KEY) and an idempotency key."""
    headers = {"X-API-Key": settings.intake_dev_api_key}
    return headers | {"Idempotency-Key": idempotency_key} if idempotency_key else headers


async def read_topic(settings: Settings, topic: str, case_id: str) -> dict[str, Any]:
    consumer = AIOKafkaConsumer(
        topic, **client_options(settings), auto_offset_reset="earliest", enable_auto_commit=False
    )
    await consumer.start()
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            batches = await consumer.getmany(timeout_ms=500)
            for records in batches.values():
                for record in records:
                    if record.key == case_id.encode():
                        event: dict[str, Any] = json.loads(record.value or b"")
                        return event
        raise AssertionError(f"no event for {case_id} on {topic}")
    finally:
        await consumer.stop()


async def test_a_case_goes_from_http_to_the_tracker(running_stack: Settings) -> None:
    settings = running_stack
    async with httpx.AsyncClient(base_url=f"http://{settings.host}:{settings.intake_port}") as client:
        answer = await client.post("/v1/cases", json=SUBMISSION, headers=auth(settings, "pipeline-1"))
    assert answer.status_code == 201, answer.text
    case_id = answer.json()["case_id"]
    assert case_id.startswith("XF150627-20260506-")

    # Hop 1: intake's store holds the case, personal data only encrypted.
    conn = await asyncpg.connect(settings.dsn)
    try:
        row = await conn.fetchrow("SELECT * FROM intake.cases WHERE case_id = $1", case_id)
        assert row is not None and row["category"] == "wage_arrears" and row["people_count"] == 6
        assert row["personal"].startswith("xv1:")
        assert not any(value in json.dumps(dict(row), default=str, ensure_ascii=False) for value in PERSONAL_VALUES)

        # Hop 2: case.received on Kafka, in its envelope, without personal data.
        received = await read_topic(settings, "case.received", case_id)
        assert received["type"] == "case.received" and received["caseid"] == case_id
        assert received["source"] == "xinfang/intake" and received["schemaversion"] == 1
        assert received["data"]["location"]["region"] == "150627107"
        assert received["data"]["petitioner_key"].startswith("p1_")
        assert not any(value in json.dumps(received, ensure_ascii=False) for value in PERSONAL_VALUES)

        # Hop 3: the router's decision on case.routed.
        routed = await read_topic(settings, "case.routed", case_id)
        decision = routed["data"]["decision"]
        assert routed["data"]["received_event_id"] == received["id"]
        assert decision["handling_unit"] == "150627:hrss"
        assert decision["disposition"] == "forward"
        assert "collective" in decision["flags"] and "first_time" in decision["flags"]
        assert decision["trace"], "the rules that fired are listed"

        # Hop 4: the tracker's case and its first deadline (15 days, not counting the first day); routing
        # completes the route stage (转送), long after that deadline for a case received in May.
        async def tracked() -> asyncpg.Record | None:
            return await conn.fetchrow(
                "SELECT * FROM tracker.cases WHERE case_id = $1 AND disposition IS NOT NULL", case_id
            )

        case = await eventually(tracked)
        assert case["handling_unit"] == "150627:hrss" and case["stage"] == "routed"
        clock = await conn.fetchrow("SELECT * FROM tracker.clocks WHERE case_id = $1 AND stage = 'route'", case_id)
        assert clock is not None and clock["due_date"] == date(2026, 5, 21)
        assert clock["completed_at"] is not None and clock["completed_at"] > clock["due_at"]
        audit = await conn.fetch("SELECT event_type FROM tracker.audit_log WHERE case_id = $1 ORDER BY id", case_id)
        assert sorted(r["event_type"] for r in audit) == ["case.received", "case.routed"]
    finally:
        await conn.close()

    # Hop 5: the tracker's metrics count it.
    async with httpx.AsyncClient() as client:
        metrics = (await client.get(f"http://{settings.host}:{settings.tracker_port}/metrics")).text
    assert 'xf_tracker_cases_received_total{channel="visit"}' in metrics
    assert 'xf_tracker_cases_routed_total{disposition="forward",level="county"}' in metrics


async def test_resubmission_is_idempotent_and_a_changed_body_conflicts(running_stack: Settings) -> None:
    settings = running_stack
    async with httpx.AsyncClient(base_url=f"http://{settings.host}:{settings.intake_port}") as client:
        key = auth(settings, "pipeline-2")
        first = await client.post("/v1/cases", json=SUBMISSION, headers=key)
        again = await client.post("/v1/cases", json=SUBMISSION, headers=key)
        changed = await client.post("/v1/cases", json={**SUBMISSION, "people_count": 7}, headers=key)
    assert first.status_code == 201 and again.status_code == 200
    assert again.json()["case_id"] == first.json()["case_id"]
    assert changed.status_code == 409 and changed.json()["errors"][0]["field"] == "Idempotency-Key"


async def test_bad_input_names_the_field_and_stores_nothing(running_stack: Settings) -> None:
    settings = running_stack
    bad = {**SUBMISSION, "location": {"region": "999999"}, "people_count": 0}
    conn = await asyncpg.connect(settings.dsn)
    try:
        before = await conn.fetchval("SELECT count(*) FROM intake.cases")
        async with httpx.AsyncClient(base_url=f"http://{settings.host}:{settings.intake_port}") as client:
            answer = await client.post("/v1/cases", json=bad, headers=auth(settings))
        after = await conn.fetchval("SELECT count(*) FROM intake.cases")
    finally:
        await conn.close()
    assert answer.status_code == 422
    fields = {error["field"] for error in answer.json()["errors"]}
    assert fields == {"location.region", "people_count"}
    assert all(error["message_zh"] and error["message_en"] for error in answer.json()["errors"])
    assert before == after


async def test_prometheus_scrapes_all_three_services(running_stack: Settings) -> None:
    settings = running_stack
    url = f"http://{settings.host}:{settings.prometheus_port}/api/v1/query"

    async def all_up() -> dict[str, str] | None:
        async with httpx.AsyncClient() as client:
            result = (await client.get(url, params={"query": "up"})).json()["data"]["result"]
        jobs = {series["metric"]["job"]: series["value"][1] for series in result}
        return jobs if jobs.get("intake") == jobs.get("router") == jobs.get("tracker") == "1" else None

    jobs = await eventually(all_up, timeout=40)
    assert {"intake", "router", "tracker"} <= set(jobs)
