"""Partners' events on the real stack: only a verified signer scoped to the case changes it.

Forged `withdrawn` events (unsigned, wrongly signed, by an unknown partner, by a partner scoped to
another unit, replayed with an old signature, passing as the tracker) and a forged second `case.routed`
change neither the tracker's case nor intake's status view; each yields one dead letter with its reason
and one count in xf_tracker_events_refused_total. A correctly signed event of the handling unit's system
is applied, and intake's status view shows it through case.status.
"""

from __future__ import annotations

import time
import uuid
from collections import Counter
from datetime import timedelta
from typing import Any

import asyncpg
import httpx
from polling import eventually
from prometheus_client.parser import text_string_to_metric_families
from tracker_events import case_id, days_ago, lifecycle, publish, read_topic, received, routed

from services.access import registry
from services.access.scopes import Client
from services.common.settings import Settings
from services.common.signing import Signer, new_key, service_signer

REFUSED = "xf_tracker_events_refused"


class OldSigner(Signer):
    """Signs as if two hours ago: a record captured then and published again now."""

    def headers(self, event_id: str, body: bytes, *, timestamp: int | None = None) -> dict[str, str]:
        return super().headers(event_id, body, timestamp=int(time.time()) - 7200)


async def partner(settings: Settings, name: str, scope: tuple[str, ...]) -> Signer:
    """A unit's system registered in intake's registry with a signing key, as an operator would."""
    conn = await asyncpg.connect(settings.dsn, server_settings={"search_path": "intake"})
    try:
        await registry.create_client(conn, Client(name, "upstream", submit_scope=scope, read_scope=scope))
        return Signer(name, await registry.new_signing_key(conn, name))
    finally:
        await conn.close()


async def submit(settings: Settings, received_at: str) -> str:
    body = {
        "channel": "online",
        "received_by": "150627:petition",
        "category": "wage_arrears",
        "location": {"region": "150627107"},
        "petitioner": {"kind": "anonymous"},
        "summary": "拖欠工资",
        "content": "反映工资被拖欠。",
        "received_at": received_at,
    }
    async with httpx.AsyncClient(base_url=f"http://{settings.host}:{settings.intake_port}") as client:
        answer = await client.post("/v1/cases", json=body, headers={"X-API-Key": settings.intake_dev_api_key})
    assert answer.status_code == 201, answer.text
    case: str = answer.json()["case_id"]
    return case


async def intake_view(settings: Settings, case: str) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=f"http://{settings.host}:{settings.intake_port}") as client:
        answer = await client.get(f"/v1/cases/{case}", headers={"X-API-Key": settings.intake_dev_api_key})
    assert answer.status_code == 200, answer.text
    view: dict[str, Any] = answer.json()
    return view


async def refused_counts(settings: Settings) -> Counter[tuple[str, str]]:
    async with httpx.AsyncClient() as client:
        text = (await client.get(f"http://{settings.host}:{settings.tracker_port}/metrics")).text
    counts: Counter[tuple[str, str]] = Counter()
    for family in text_string_to_metric_families(text):
        if family.name == REFUSED:
            for sample in family.samples:
                if sample.name.endswith("_total"):
                    counts[(sample.labels["type"], sample.labels["reason"])] += int(sample.value)
    return counts


async def test_forged_and_out_of_scope_events_change_nothing_and_a_partner_s_own_event_applies(
    tracker_stack: Settings, db: asyncpg.Connection
) -> None:
    settings = tracker_stack
    suffix = uuid.uuid4().hex[:8]
    hrss = await partner(settings, f"hrss-sys-{suffix}", ("150627:hrss",))
    elsewhere = await partner(settings, f"dongsheng-sys-{suffix}", ("150602",))
    t0 = days_ago(1)
    case = await submit(settings, t0.isoformat())

    async def stage() -> str | None:
        found: str | None = await db.fetchval("SELECT stage FROM cases WHERE case_id = $1", case)
        return found

    await eventually(lambda: stage(), what="the case received by the tracker")
    await publish(settings, [routed(case, t0, t0 + timedelta(minutes=5), unit="150627:hrss")])

    async def routed_in_intake() -> dict[str, Any] | None:
        view = await intake_view(settings, case)
        return view if view["stage"] == "routed" else None

    view = await eventually(routed_in_intake, what="the routing in intake's status view")
    assert view["handling_unit"] == "150627:hrss" and view["status"] == "open"
    assert view["routing"]["disposition"] == "forward"
    before = await refused_counts(settings)

    at = t0 + timedelta(hours=2)
    forged = {
        "unsigned": (lifecycle(case, "withdrawn", at), None),
        "bad_signature": (lifecycle(case, "withdrawn", at), Signer(hrss.name, new_key())),
        "unknown_partner": (lifecycle(case, "withdrawn", at), Signer(f"nobody-{suffix}", new_key())),
        "out_of_scope": (lifecycle(case, "rejected", at, reason="forged"), elsewhere),
        "stale_signature": (lifecycle(case, "withdrawn", at), OldSigner(hrss.name, hrss.key)),
        "impersonation": (lifecycle(case, "withdrawn", at), service_signer("tracker", new_key())),
    }
    for envelope, signer in forged.values():
        await publish(settings, [envelope], signer=signer)
    second_routing = routed(case, t0, t0 + timedelta(minutes=30), unit="150627:civil")
    await publish(settings, [second_routing])
    accepted = lifecycle(case, "accepted", t0 + timedelta(hours=3))
    await publish(settings, [accepted], signer=hrss)  # the handling unit's own system

    async def accepted_in_intake() -> dict[str, Any] | None:
        view = await intake_view(settings, case)
        return view if view["stage"] == "accepted" else None

    # One partition per case, in order: once the accepted event shows, everything before it was handled.
    view = await eventually(accepted_in_intake, what="the partner's own event in intake's status view")
    assert view["status"] == "open" and view["handling_unit"] == "150627:hrss"
    assert view["routing"]["handling_unit"] == "150627:hrss"
    assert await stage() == "accepted"
    forged_ids = [envelope.data.root.event_id for envelope, _ in forged.values()]
    assert await db.fetchval("SELECT count(*) FROM applied_events WHERE event_id = ANY($1)", forged_ids) == 0
    audit = await db.fetch("SELECT event_type, outcome FROM audit_log WHERE case_id = $1 ORDER BY id", case)
    assert [(r["event_type"], r["outcome"]) for r in audit if r["outcome"] == "applied"] == [
        ("case.received", "applied"),
        ("case.routed", "applied"),
        ("accepted", "applied"),
    ]
    statuses = await read_topic(settings, "case.status", keys={case})
    assert [s["data"]["version"] for s in statuses] == [1, 2, 3]
    assert [s["data"]["cause"]["type"] for s in statuses] == ["received", "routed", "accepted"]
    assert statuses[-1]["data"]["due"] and statuses[-1]["data"]["due"][0]["stage"] == "handle"

    letters = await read_topic(settings, "case.deadletter", keys={case, "unknown"})
    ours = [letter["data"] for letter in letters if case in letter["data"]["payload"]]
    reasons = Counter(letter["reason"].split(":", 1)[0] for letter in ours if letter["consumer"] == "tracker")
    expected = {"unsigned": 1, "bad_signature": 2, "unknown_partner": 1, "out_of_scope": 1, "stale_signature": 1}
    assert reasons == Counter({**expected, "illegal": 1})  # the second routing is illegal
    after = await refused_counts(settings)
    for reason, count in expected.items():
        kind = "case.lifecycle" if reason != "out_of_scope" else "rejected"
        assert after[(kind, reason)] - before[(kind, reason)] == count, reason
    assert after[("routed", "illegal")] - before[("routed", "illegal")] == 1


async def test_a_partner_event_parked_before_its_case_is_authorised_when_it_applies(
    tracker_stack: Settings, db: asyncpg.Connection
) -> None:
    settings = tracker_stack
    elsewhere = await partner(settings, f"other-sys-{uuid.uuid4().hex[:8]}", ("150602",))
    case = case_id("PRK")
    t0 = days_ago(1)
    early = lifecycle(case, "withdrawn", t0 + timedelta(hours=1))
    await publish(settings, [early], signer=elsewhere)

    async def parked_by() -> str | None:
        found: str | None = await db.fetchval("SELECT partner FROM parked_events WHERE case_id = $1", case)
        return found

    assert await eventually(parked_by, what="the event parked until its case exists") == elsewhere.name
    await publish(settings, [received(case, t0), routed(case, t0, t0 + timedelta(minutes=5))])

    async def routed_stage() -> bool:
        return await db.fetchval("SELECT stage FROM cases WHERE case_id = $1", case) == "routed"

    await eventually(routed_stage, what="the case routed")
    letters = await read_topic(settings, "case.deadletter", keys={case})
    assert [letter["data"]["reason"].split(":", 1)[0] for letter in letters] == ["out_of_scope"]
    assert await db.fetchval("SELECT count(*) FROM parked_events WHERE case_id = $1", case) == 0
    assert await db.fetchval("SELECT count(*) FROM applied_events WHERE event_id = $1", early.id) == 0
