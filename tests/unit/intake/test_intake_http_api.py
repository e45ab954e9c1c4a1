"""The HTTP layer over a stand-in service (no database, no Kafka): status codes, error shapes, batches,
parameter errors, the OpenAPI document."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from intake_factories import submission

from services.access.scopes import Client
from services.common.paging import decode_cursor, encode_cursor
from services.common.schemas import CHANNELS
from services.common.settings import Settings
from services.intake.accept import Accepted, Conflict, Outcome, Request
from services.intake.service import create_app

UPSTREAM = Client("erp", "upstream", frozenset(CHANNELS), ("150627",), ("150627",))
OPERATOR = Client("ops", "operator", read_scope=("150627:hrss",))


class NoDatabase:
    @contextlib.asynccontextmanager
    async def acquire(self) -> AsyncIterator[object]:
        yield object()


class StandIn:
    """Answers like IntakeService: idempotency keys starting `dup-` were seen with this body, `clash-`
    with another one; everything else is a new case."""

    def __init__(self) -> None:
        self.requests: list[Request] = []
        self.vias: list[str] = []
        self.pool = NoDatabase()

    async def authenticate(self, conn: object, token: str) -> Client | None:
        return {"k-erp": UPSTREAM, "k-ops": OPERATOR}.get(token)

    async def submit(self, conn: object, requests: Sequence[Request], *, via: str) -> list[Outcome]:
        self.requests += requests
        self.vias.append(via)
        outcomes: list[Outcome] = []
        for number, request in enumerate(requests):
            key = request.idempotency_key or ""
            if key.startswith("clash-"):
                outcomes.append(Conflict(key, "XF150627-20260506-000001"))
            else:
                outcomes.append(Accepted(f"XF150627-20260506-{number + 10:06d}", created=not key.startswith("dup-")))
        return outcomes


@pytest.fixture
def service() -> StandIn:
    return StandIn()


@pytest.fixture
async def api(service: StandIn) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(Settings())
    app.state.service = service
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://intake") as client:
        yield client


def body(**overrides: Any) -> dict[str, Any]:
    return submission(received_at="2026-05-06T09:30:00+08:00", **overrides)


async def test_a_new_case_is_201_with_its_location(api: httpx.AsyncClient, service: StandIn) -> None:
    answer = await api.post("/v1/cases", json=body(), headers={"X-API-Key": "k-erp", "Idempotency-Key": "a"})
    assert answer.status_code == 201
    assert answer.json() == {"case_id": "XF150627-20260506-000010", "status": "accepted"}
    assert answer.headers["location"] == "/v1/cases/XF150627-20260506-000010"
    (request,) = service.requests
    assert (request.client, request.idempotency_key, service.vias) == ("erp", "a", ["http"])


@pytest.mark.parametrize(("key", "status", "code"), [("dup-1", 200, None), ("clash-1", 409, "idempotency_conflict")])
async def test_resubmissions(api: httpx.AsyncClient, key: str, status: int, code: str | None) -> None:
    answer = await api.post("/v1/cases", json=body(), headers={"X-API-Key": "k-erp", "Idempotency-Key": key})
    assert answer.status_code == status
    if code:
        assert answer.json()["errors"][0] == {
            **answer.json()["errors"][0], "field": "Idempotency-Key", "code": code
        }  # fmt: skip
    else:
        assert answer.json()["status"] == "already_accepted"


async def test_refusals_store_nothing(api: httpx.AsyncClient, service: StandIn) -> None:
    none = await api.post("/v1/cases", json=body())
    wrong = await api.post("/v1/cases", json=body(), headers={"X-API-Key": "k-nobody"})
    invalid = await api.post("/v1/cases", json=body(people_count=0), headers={"X-API-Key": "k-erp"})
    outside = await api.post("/v1/cases", json=body(received_by="150602:petition"), headers={"X-API-Key": "k-erp"})
    reader = await api.post("/v1/cases", json=body(), headers={"X-API-Key": "k-ops"})
    long_key = await api.post("/v1/cases", json=body(), headers={"X-API-Key": "k-erp", "Idempotency-Key": "k" * 201})
    assert [a.status_code for a in (none, wrong, invalid, outside, reader, long_key)] == [401, 401, 422, 403, 403, 422]
    assert [a.json()["errors"][0]["field"] for a in (none, invalid, outside, reader, long_key)] == [
        "X-API-Key", "people_count", "received_by", "X-API-Key", "Idempotency-Key",
    ]  # fmt: skip
    assert all(e["message_zh"] and e["message_en"] for a in (none, invalid, long_key) for e in a.json()["errors"])
    assert service.requests == []


async def test_a_batch_answers_item_by_item(api: httpx.AsyncClient, service: StandIn) -> None:
    items = [
        {"idempotency_key": "n1", "case": body()},
        {"case": body(people_count=0)},
        {"idempotency_key": "dup-2", "case": body()},
        {"idempotency_key": "clash-3", "case": body()},
        {"case": body(received_by="150602:petition")},
        {"case": 42},
    ]
    answer = await api.post("/v1/cases/batch", json={"cases": items}, headers={"X-API-Key": "k-erp"})
    assert answer.status_code == 200
    result = answer.json()
    assert [item["status"] for item in result["results"]] == [
        "accepted", "invalid", "already_accepted", "conflict", "forbidden", "invalid",
    ]  # fmt: skip
    assert (result["accepted"], result["already_accepted"], result["refused"]) == (1, 1, 4)
    assert [item["index"] for item in result["results"]] == list(range(6))
    assert result["results"][3]["errors"][0]["field"] == "idempotency_key"
    assert [r.idempotency_key for r in service.requests] == ["n1", "dup-2", "clash-3"] and service.vias == [
        "http_batch"
    ]


async def test_a_malformed_batch_is_refused_whole(api: httpx.AsyncClient, service: StandIn) -> None:
    for payload in ({"cases": []}, {"cases": [{"case": {}, "extra": 1}]}, {"items": []}):
        answer = await api.post("/v1/cases/batch", json=payload, headers={"X-API-Key": "k-erp"})
        assert answer.status_code == 422, payload
        assert answer.json()["errors"][0]["field"].startswith("cases") or answer.json()["errors"][0]["field"] == "items"
    assert service.requests == []


async def test_listing_checks_scope_unit_and_cursor_before_reading(api: httpx.AsyncClient) -> None:
    ops = {"X-API-Key": "k-ops"}
    other_unit = await api.get("/v1/units/150627:petition/cases", headers=ops)
    subtree = await api.get("/v1/units/150627:hrss/cases", params={"subtree": "true"}, headers=ops)
    unknown = await api.get("/v1/units/999999:hrss/cases", headers=ops)
    malformed = await api.get("/v1/units/hrss/cases", params={"limit": 0}, headers=ops)
    cursor = await api.get("/v1/units/150627:hrss/cases", params={"cursor": "%%%"}, headers=ops)
    assert [a.status_code for a in (other_unit, subtree, unknown, malformed, cursor)] == [403, 403, 422, 422, 422]
    assert {e["field"] for e in malformed.json()["errors"]} == {"unit_id", "limit"}
    assert cursor.json()["errors"][0]["code"] == "cursor_invalid"


def test_cursors_round_trip() -> None:
    moment = datetime(2026, 5, 6, 1, 30, tzinfo=UTC)
    assert decode_cursor(encode_cursor(moment, "XF150627-20260506-000001")) == (moment, "XF150627-20260506-000001")
    for bad in ("", "abc", encode_cursor(moment, "x")[:-3], "W10", "WyJ4IiwgMV0"):
        assert decode_cursor(bad) is None


def test_the_openapi_document_describes_bodies_answers_and_auth() -> None:
    spec = create_app(Settings()).openapi()
    paths = spec["paths"]
    assert set(paths) == {"/v1/cases", "/v1/cases/batch", "/v1/cases/{case_id}", "/v1/units/{unit_id}/cases"}
    submit = paths["/v1/cases"]["post"]
    assert submit["requestBody"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Submission"}
    assert set(submit["requestBody"]["content"]["application/json"]["examples"]) >= {"visit", "assignment"}
    assert {"200", "201", "401", "403", "409", "422"} <= set(submit["responses"])
    schemas = spec["components"]["schemas"]
    assert {"Submission", "Person", "BatchRequestDoc", "CaseView", "CaseList", "ErrorBody"} <= set(schemas)
    assert "HTTPValidationError" not in schemas  # every 422 has our bilingual shape
    assert "渠道" in schemas["Submission"]["properties"]["channel"]["description"]
    assert spec["components"]["securitySchemes"]["APIKeyHeader"]["name"] == "X-API-Key"
    assert all(op.get("security") for path in paths.values() for op in path.values())
