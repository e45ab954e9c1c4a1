"""The tracker's action route table and its one generic handler, in memory (no database, no broker)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from services.access.scopes import Client
from services.common.lifecycle import LIFECYCLE_TYPES
from services.tracker import actions, api, readmodel

CASE = "XF-150627-20260510-000001"
DESK = Client(name="desk", role="unit", submit_scope=("150627",), read_scope=("150627",))
Recorded = list[tuple[str, str, actions.Action, str | None]]


class Registry:
    async def authenticate(self, key: str) -> Client | None:
        return DESK if key == "desk-key" else None


@pytest.fixture
def recorded(monkeypatch: pytest.MonkeyPatch) -> Recorded:
    """What the handlers hand to `record_action` (which needs the database; tested on the stack)."""
    calls: Recorded = []

    async def record(
        service: Any, client: Client, case_id: str, name: str, body: actions.Action, key: str | None
    ) -> tuple[readmodel.ActionAnswer, int]:
        calls.append((name, case_id, body, key))
        event_type = actions.EVENT_TYPE[name]
        return readmodel.ActionAnswer(event_id="e-1", case_id=case_id, type=event_type, status="published"), 202

    monkeypatch.setattr(api, "record_action", record)
    return calls


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    app = FastAPI()
    app.state.service = SimpleNamespace(registry=Registry())
    api.install_api(app)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://tracker") as client:
        yield client


def test_the_table_names_each_action_once_as_a_lifecycle_event() -> None:
    names = [route.name for route in actions.ROUTES]
    assert len(names) == len(set(names)) == 12
    assert {route.event_type for route in actions.ROUTES} <= set(LIFECYCLE_TYPES)
    assert [r.name for r in actions.ROUTES if r.body_required] == ["reject", "extend", "pause", "report"]


async def test_every_row_is_one_documented_post(http: httpx.AsyncClient) -> None:
    paths = (await http.get("/openapi.json")).json()["paths"]
    posts = {path.rsplit("/", 1)[1]: item for path, item in paths.items() if "post" in item}
    assert list(posts) == [route.name for route in actions.ROUTES]
    for route in actions.ROUTES:
        post = posts[route.name]["post"]
        assert (
            post["operationId"]
            == f"{route.name.replace('-', '_')}_v1_cases__case_id__{route.name.replace('-', '_')}_post"
        )
        assert post["summary"].endswith(f"→ {route.event_type}")
        assert post["requestBody"].get("required", False) is route.body_required
        assert route.body.__name__ in str(post["requestBody"]["content"]["application/json"]["schema"])
        assert set(post["responses"]) == {"200", "202", "401", "403", "404", "409", "422"}


@pytest.mark.parametrize("route", actions.ROUTES, ids=lambda route: route.name)
async def test_the_handler_hands_the_route_its_own_body_model(
    http: httpx.AsyncClient, recorded: Recorded, route: actions.ActionRoute
) -> None:
    body = {
        "reject": {"reason": "不属于信访事项"},
        "extend": {"days": 30, "reason": "复杂", "approved_by": "150627:gov"},
        "pause": {"reason": "hearing"},
        "report": {"report": "urgent"},
    }.get(route.name)
    answer = await http.post(
        f"/v1/cases/{CASE}/{route.name}", json=body, headers={"X-API-Key": "desk-key", "Idempotency-Key": "k-1"}
    )
    assert answer.status_code == 202, answer.text
    assert answer.json()["type"] == route.event_type
    [(name, case_id, model, key)] = recorded
    assert (name, case_id, key) == (route.name, CASE, "k-1")
    assert type(model) is route.body


@pytest.mark.parametrize("route", [r for r in actions.ROUTES if r.body_required], ids=lambda route: route.name)
async def test_a_required_body_may_not_be_left_out(
    http: httpx.AsyncClient, recorded: Recorded, route: actions.ActionRoute
) -> None:
    answer = await http.post(f"/v1/cases/{CASE}/{route.name}", headers={"X-API-Key": "desk-key"})
    assert answer.status_code == 422
    assert answer.json()["errors"]
    assert recorded == []


async def test_hostile_bodies_and_keys_are_refused_before_anything_is_recorded(
    http: httpx.AsyncClient, recorded: Recorded
) -> None:
    key = {"X-API-Key": "desk-key"}
    extra = await http.post(f"/v1/cases/{CASE}/accept", json={"forged": 1}, headers=key)
    assert extra.status_code == 422
    assert [e["field"] for e in extra.json()["errors"]] == ["forged"]
    nul = await http.post(f"/v1/cases/{CASE}/reject", json={"reason": "a\u0000b"}, headers=key)
    assert nul.status_code == 422
    assert [e["field"] for e in nul.json()["errors"]] == ["reason"]
    loose = await http.post(
        f"/v1/cases/{CASE}/extend", json={"days": "30", "reason": "x", "approved_by": "y"}, headers=key
    )
    assert [e["field"] for e in loose.json()["errors"]] == ["days"]
    assert (await http.post(f"/v1/cases/{CASE}/accept", headers={"X-API-Key": "stolen"})).status_code == 401
    assert (await http.post(f"/v1/cases/{CASE}/accept")).status_code == 401
    assert (await http.post("/v1/cases/not a case/accept", headers=key)).status_code == 422
    assert recorded == []
