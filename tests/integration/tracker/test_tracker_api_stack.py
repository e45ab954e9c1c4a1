"""Units' HTTP API: actions checked and published as lifecycle events, scoped reads, intake's keys."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import asyncpg
import httpx
import pytest
from polling import eventually
from tracker_events import case_id, days_ago, publish, received, routed

from services.access import registry
from services.access.scopes import Client
from services.common.settings import Settings


@pytest.fixture
async def keys(tracker_stack: Settings) -> dict[str, str]:
    """API keys of four clients, registered in intake's registry as an operator would."""
    conn = await asyncpg.connect(tracker_stack.dsn, server_settings={"search_path": "intake"})
    suffix = uuid.uuid4().hex[:8]
    specs = {
        "county": Client(
            f"hrss-county-{suffix}", "reception", submit_scope=("150627:hrss",), read_scope=("150627:hrss",)
        ),
        "city": Client(f"hrss-city-{suffix}", "reception", submit_scope=("150600",), read_scope=("150600",)),
        "housing": Client(
            f"housing-{suffix}", "reception", submit_scope=("150627:housing",), read_scope=("150627:housing",)
        ),
        "watcher": Client(f"watch-{suffix}", "operator", read_scope=("150000",)),
    }
    try:
        return {name: (await registry.create_client(conn, client)).token for name, client in specs.items()}
    finally:
        await conn.close()


@pytest.fixture
async def api(tracker_stack: Settings) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=f"http://{tracker_stack.host}:{tracker_stack.tracker_port}") as client:
        yield client


def as_(key: str, idempotency: str | None = None) -> dict[str, str]:
    headers = {"X-API-Key": key}
    if idempotency:
        headers["Idempotency-Key"] = idempotency
    return headers


async def applied(db: asyncpg.Connection, event_id: str) -> None:
    async def seen() -> str | None:
        outcome: str | None = await db.fetchval("SELECT outcome FROM applied_events WHERE event_id = $1", event_id)
        return outcome

    assert await eventually(seen, what=f"event {event_id} applied") == "applied"


async def forwarded_case(settings: Settings) -> str:
    case = case_id("API")
    t0 = days_ago(2)
    await publish(settings, [received(case, t0), routed(case, t0, t0 + timedelta(minutes=1))])
    return case


async def test_a_unit_records_its_work_through_the_api(
    tracker_stack: Settings, db: asyncpg.Connection, keys: dict[str, str], api: httpx.AsyncClient
) -> None:
    case = await forwarded_case(tracker_stack)

    async def routed_stage() -> bool:
        return await db.fetchval("SELECT stage FROM cases WHERE case_id = $1", case) == "routed"

    await eventually(routed_stage, what="the case routed")

    async def post(who: str, action: str, body: dict[str, Any] | None = None, key: str | None = None) -> httpx.Response:
        return await api.post(f"/v1/cases/{case}/{action}", json=body, headers=as_(keys[who], key))

    assert (await post("housing", "accept")).status_code == 404  # another unit does not even see it
    assert (await post("watcher", "accept")).status_code == 403  # an operator only reads
    assert (await api.post(f"/v1/cases/{case}/accept")).status_code == 401
    bad_key = await api.post(f"/v1/cases/{case}/accept", headers={"X-API-Key": "xfk_nope_" + "x" * 30})
    assert bad_key.status_code == 401 and bad_key.json()["errors"][0]["code"] == "api_key_invalid"

    early = await post("county", "reply")
    assert early.status_code == 409 and early.json()["errors"][0]["code"] == "transition_premature"
    accepted = await post("county", "accept", key="accept-1")
    assert accepted.status_code == 202, accepted.text
    assert accepted.json()["status"] == "published" and accepted.json()["stage"] == "accepted"
    await applied(db, accepted.json()["event_id"])
    again = await post("county", "accept", key="accept-1")
    assert (again.status_code, again.json()["status"]) == (200, "applied")  # the same action, counted once
    twice = await post("county", "accept", key="accept-2")
    assert twice.status_code == 409 and twice.json()["errors"][0]["code"] == "transition_refused"

    too_long = await post("county", "extend", {"days": 31, "reason": "现场勘查", "approved_by": "150627:gov"})
    assert too_long.status_code == 409 and "maximum of 30" in too_long.json()["errors"][0]["message_en"]
    missing = await post("county", "extend", {"days": 10, "reason": "现场勘查"})
    assert missing.status_code == 422 and missing.json()["errors"][0]["field"] == "approved_by"
    extended = await post("county", "extend", {"days": 30, "reason": "现场勘查", "approved_by": "150627:gov"})
    assert extended.status_code == 202
    await applied(db, extended.json()["event_id"])
    paused = await post("county", "pause", {"reason": "hearing"})
    await applied(db, paused.json()["event_id"])
    handle = await db.fetchrow("SELECT * FROM clocks WHERE case_id = $1 AND stage = 'handle'", case)
    assert handle["extended_days"] == 30 and handle["paused_since"] is not None and handle["next_alert_at"] is None
    resumed = await post("county", "resume")
    await applied(db, resumed.json()["event_id"])
    replied = await post("county", "reply")
    await applied(db, replied.json()["event_id"])

    assert (await post("city", "review")).status_code == 409  # no review requested yet
    request = await post("county", "review-request")
    assert request.status_code == 202
    await applied(db, request.json()["event_id"])
    assert (await post("county", "review")).status_code == 403  # the level above reviews, not the unit
    review = await post("city", "review")
    assert review.status_code == 202
    await applied(db, review.json()["event_id"])
    row = await db.fetchrow("SELECT stage, review_unit FROM cases WHERE case_id = $1", case)
    assert (row["stage"], row["review_unit"]) == ("reviewed", "150600:hrss")
    actors = await db.fetch(
        "SELECT DISTINCT actor FROM audit_log WHERE case_id = $1 AND outcome = 'applied' AND actor LIKE '%via%'", case
    )
    assert {r["actor"].split(" via ")[0] for r in actors} == {"150627:hrss", "150600:hrss"}


async def test_units_read_their_own_open_cases_and_their_subtree(
    tracker_stack: Settings, db: asyncpg.Connection, keys: dict[str, str], api: httpx.AsyncClient
) -> None:
    case = await forwarded_case(tracker_stack)

    async def present() -> bool:
        return await db.fetchval("SELECT stage FROM cases WHERE case_id = $1", case) == "routed"

    await eventually(present, what="the case routed")
    one = await api.get(f"/v1/cases/{case}", headers=as_(keys["county"]))
    assert one.status_code == 200
    view = one.json()
    assert (view["handling_unit"], view["stage"]) == ("150627:hrss", "routed")
    assert [(d["stage"], d["status"]) for d in view["deadlines"]] == [("route", "met")]
    assert (await api.get(f"/v1/cases/{case}", headers=as_(keys["housing"]))).status_code == 404

    async def listed(who: str, unit: str, subtree: bool, cursor: str | None = None) -> httpx.Response:
        params = {"subtree": str(subtree).lower(), "limit": "200", **({"cursor": cursor} if cursor else {})}
        return await api.get(f"/v1/units/{unit}/cases", params=params, headers=as_(keys[who]))

    async def every_page(who: str, unit: str, subtree: bool) -> list[dict[str, Any]]:
        cases: list[dict[str, Any]] = []
        cursor = None
        for _ in range(50):
            page = await listed(who, unit, subtree, cursor)
            assert page.status_code == 200, page.text
            cases += page.json()["cases"]
            cursor = page.json()["next_cursor"]
            if cursor is None:
                return cases
        raise AssertionError("more than 50 pages")

    own = await every_page("county", "150627:hrss", False)
    assert case in {c["case_id"] for c in own}
    assert len({c["case_id"] for c in own}) == len(own)  # pages do not overlap
    assert all(not c["closed"] for c in own)
    dues = [min((d["due_at"] for d in c["deadlines"] if d["unit"]), default="9999") for c in own]
    assert dues == sorted(dues)  # nearest running deadline first
    city = await every_page("city", "150600:hrss", True)
    assert case in {c["case_id"] for c in city}
    assert all(c["handling_unit"].startswith("1506") and c["handling_unit"].endswith(":hrss") for c in city)
    city_own = await every_page("city", "150600:hrss", False)
    assert case not in {c["case_id"] for c in city_own}  # its subordinate's, not its own
    assert (await listed("county", "150600:hrss", True)).status_code == 403
    assert (await listed("county", "150627:housing", False)).status_code == 403
    assert (await listed("county", "999999:hrss", False)).status_code == 422


async def test_the_api_is_documented(api: httpx.AsyncClient) -> None:
    spec = (await api.get("/openapi.json")).json()
    actions = {path.rsplit("/", 1)[1] for path in spec["paths"] if path.startswith("/v1/cases/{case_id}/")}
    assert {"accept", "reject", "extend", "pause", "resume", "reply", "review", "rereview"} <= actions
    assert "/v1/units/{unit_id}/cases" in spec["paths"]
    assert spec["components"]["securitySchemes"]["APIKeyHeader"]["name"] == "X-API-Key"
    assert (await api.get("/docs")).status_code == 200
