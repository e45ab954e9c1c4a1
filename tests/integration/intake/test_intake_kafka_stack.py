"""Upstream systems publishing on `case.submitted`: accepted like HTTP submissions, de-duplicated by
event id, and every refusal on `case.deadletter` with its reason but without the case's content."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

from aiokafka import AIOKafkaProducer
from intake_helpers import (
    PLANTED,
    add_client,
    case_body,
    case_for_event,
    connected,
    headers,
    http,
    publish_raw,
    publish_submitted,
    read_events,
    signing_key,
    submitted_event,
    unique_name,
)
from kafka_roles import publisher_options
from polling import eventually

from services.access.scopes import Client
from services.common.settings import Settings
from services.common.signing import Signer, new_key


async def dead_letters(settings: Settings, event_ids: set[str]) -> dict[str, dict[str, Any]]:
    def pointer(event: dict[str, Any]) -> dict[str, Any]:
        try:
            found: dict[str, Any] = json.loads(event["data"]["payload"])
            return found
        except (ValueError, KeyError, TypeError):
            return {}

    events = await read_events(
        settings,
        ("case.deadletter",),
        keep=lambda event: pointer(event).get("event_id") in event_ids,
        until=lambda kept: {pointer(event)["event_id"] for event in kept} >= event_ids,
    )
    return {pointer(event)["event_id"]: event for event in events}


async def test_published_cases_are_accepted_once_and_refusals_are_dead_lettered(intake_stack: Settings) -> None:
    settings = intake_stack
    restricted = unique_name("erp")
    await add_client(
        settings,
        Client(restricted, "upstream", frozenset({"letter"}), ("150627",), ("150627",), sources=(f"it/{restricted}",)),
    )
    good = submitted_event(case_body("online"))
    repeat = dict(good)
    changed = {**good, "data": {**good["data"], "people_count": 4}}
    invalid = submitted_event({**case_body("visit"), "people_count": 0, "location": {"region": "999999"}})
    forbidden = submitted_event(case_body("visit"), source=f"it/{restricted}")
    allowed = submitted_event(case_body("letter"), source=f"it/{restricted}")
    wrong_type = {**submitted_event(case_body("letter")), "type": "case.received"}
    await publish_submitted(settings, [good, repeat, invalid, wrong_type])
    await publish_submitted(settings, [forbidden, allowed], await signing_key(settings, restricted))
    await publish_submitted(settings, [changed])

    await publish_raw(settings, "case.submitted", [(b"garbage", b"\xff not json")])

    accepted = await eventually(lambda: case_for_event(settings, "dev", good["id"]), what="the published case")
    assert await eventually(lambda: case_for_event(settings, restricted, allowed["id"]), what="the allowed case")
    letters = await dead_letters(settings, {invalid["id"], forbidden["id"], changed["id"], wrong_type["id"]})

    assert "people_count" in letters[invalid["id"]]["data"]["reason"]
    assert "location.region" in letters[invalid["id"]]["data"]["reason"]
    assert "channel" in letters[forbidden["id"]]["data"]["reason"]
    assert accepted in letters[changed["id"]]["data"]["reason"]  # the conflict names the case it met
    assert json.loads(letters[wrong_type["id"]]["data"]["payload"])["reason"] == "envelope"
    for letter in letters.values():
        assert letter["data"]["topic"] == "case.submitted" and letter["data"]["offset"] is not None
        assert not any(value in json.dumps(letter, ensure_ascii=False) for value in PLANTED)

    async with connected(settings) as conn:
        copies = await conn.fetchval("SELECT count(*) FROM cases WHERE idempotency_key = $1", f"dev:{good['id']}")
        refused = await conn.fetchval(
            "SELECT count(*) FROM cases WHERE idempotency_key = ANY($1)",
            [f"dev:{invalid['id']}", f"{restricted}:{forbidden['id']}", f"dev:{wrong_type['id']}"],
        )
    assert copies == 1 and refused == 0


async def test_the_event_id_and_the_http_key_of_one_client_are_one_idempotency_key(intake_stack: Settings) -> None:
    settings = intake_stack
    body = case_body("letter")
    event = submitted_event(body, event_id=f"evt-{uuid.uuid4()}")
    await publish_submitted(settings, [event])
    case_id = await eventually(lambda: case_for_event(settings, "dev", event["id"]), what="the published case")
    async with http(settings) as client:
        again = await client.post("/v1/cases", json=body, headers=headers(settings.intake_dev_api_key, event["id"]))
    assert again.status_code == 200 and again.json()["case_id"] == case_id


async def test_only_a_client_s_verified_signature_names_who_submits(intake_stack: Settings) -> None:
    """A record's `source` names nobody: unsigned, wrongly signed, replayed, or signed by a client that
    may not submit it, the case is refused and dead-lettered with the reason; nothing is stored."""
    settings = intake_stack
    letters_only = unique_name("post")
    await add_client(
        settings,
        Client(letters_only, "upstream", frozenset({"letter"}), ("150627",), ("150627",), sources=("*",)),
    )
    post = await signing_key(settings, letters_only)
    unsigned = submitted_event(case_body("online"), source="intruder/anything")
    forbidden = submitted_event(case_body("online"), source="intruder/anything")
    bad_key = submitted_event(case_body("letter"), source="intruder/anything")
    unknown = submitted_event(case_body("letter"), source="intruder/anything")
    stale = submitted_event(case_body("letter"), source="intruder/anything")
    producer = AIOKafkaProducer(**publisher_options(settings, "case.submitted"))  # an upstream system's
    await producer.start()
    try:  # named by its id, not signed
        value = json.dumps(unsigned).encode()
        await producer.send_and_wait("case.submitted", value, key=b"k", headers=[("ce-id", unsigned["id"].encode())])
    finally:
        await producer.stop()
    await publish_submitted(settings, [forbidden], post)
    await publish_submitted(settings, [bad_key], Signer(letters_only, new_key()))
    await publish_submitted(settings, [unknown], Signer("intruder", new_key()))
    await publish_submitted(settings, [stale], OldSigner(letters_only, post.key))
    letters = await dead_letters(settings, {e["id"] for e in (unsigned, forbidden, bad_key, unknown, stale)})

    def reason(event: dict[str, Any]) -> str:
        found: str = json.loads(letters[event["id"]]["data"]["payload"])["reason"]
        return found

    assert reason(unsigned) == "unsigned" and reason(forbidden) == "forbidden"
    assert "channel" in letters[forbidden["id"]]["data"]["reason"]
    assert reason(bad_key) == "bad_signature" and reason(unknown) == "unknown_partner"
    assert reason(stale) == "stale_signature"
    async with connected(settings) as conn:
        stored = await conn.fetchval(
            "SELECT count(*) FROM cases WHERE split_part(idempotency_key, ':', 2) = ANY($1)",
            [e["id"] for e in (unsigned, forbidden, bad_key, unknown, stale)],
        )
    assert stored == 0


class OldSigner(Signer):
    """Signs as if an hour ago: a signed record captured then and published again now."""

    def headers(self, event_id: str, body: bytes, *, timestamp: int | None = None) -> dict[str, str]:
        return super().headers(event_id, body, timestamp=int(time.time()) - 3600)
