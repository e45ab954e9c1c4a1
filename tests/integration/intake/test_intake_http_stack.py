"""Submitting over HTTP against the real intake, PostgreSQL and Kafka: every channel, every kind of bad
input, idempotency, authentication and scopes, batches."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from intake_helpers import (
    PLANTED,
    add_client,
    case_body,
    connected,
    fresh_person,
    headers,
    http,
    new_key,
    read_events,
    unique_name,
)

from services.access import registry
from services.access.scopes import Client
from services.common.schemas import CHANNELS
from services.common.settings import Settings
from services.intake.identity import credit_code_check_char, id_number_check_char


async def counts(settings: Settings) -> tuple[int, int]:
    async with connected(settings) as conn:
        return await conn.fetchval("SELECT count(*) FROM cases"), await conn.fetchval("SELECT count(*) FROM outbox")


async def stored_under(settings: Settings, client: str, key: str) -> int:
    async with connected(settings) as conn:
        return int(await conn.fetchval("SELECT count(*) FROM cases WHERE idempotency_key = $1", f"{client}:{key}"))


async def test_every_channel_is_accepted_stored_and_announced(intake_stack: Settings) -> None:
    settings = intake_stack
    key = settings.intake_dev_api_key
    accepted: dict[str, str] = {}
    async with http(settings) as client:
        for channel in CHANNELS:
            answer = await client.post("/v1/cases", json=case_body(channel), headers=headers(key, new_key()))
            assert answer.status_code == 201, (channel, answer.text)
            assert answer.json()["status"] == "accepted"
            assert answer.headers["location"] == f"/v1/cases/{answer.json()['case_id']}"
            accepted[answer.json()["case_id"]] = channel
    assert all(case_id.startswith("XF150627-20260506-") for case_id in accepted)

    async with connected(settings) as conn:
        rows = await conn.fetch(
            "SELECT case_id, channel, personal, client FROM cases WHERE case_id = ANY($1)", list(accepted)
        )
        queued = await conn.fetchval("SELECT count(*) FROM outbox WHERE key = ANY($1)", list(accepted))
    assert {row["case_id"]: row["channel"] for row in rows} == accepted
    assert all(row["personal"].startswith("xv1:") and row["client"] == "dev" for row in rows)
    assert queued == len(CHANNELS)

    events = await read_events(
        settings,
        ("case.received",),
        keep=lambda event: event.get("caseid") in accepted,
        until=lambda kept: {event["caseid"] for event in kept} == set(accepted),
    )
    by_channel = {event["data"]["channel"]: event["data"] for event in events}
    assert set(by_channel) == set(CHANNELS)
    assert by_channel["assignment"]["assignment"] == {
        "from_unit": "150600:petition",
        "due_days": 30,
        "assigned_at": None,
    }
    assert all(by_channel[channel]["assignment"] is None for channel in CHANNELS if channel != "assignment")


def _id_with_birth(birth: str) -> str:
    first17 = f"150627{birth}123"
    return first17 + id_number_check_char(first17)


def _wrong_check(number: str) -> str:
    return number[:-1] + ("0" if number[-1] != "0" else "1")


_CREDIT_BODY = "91150627MA0R1T2Y5"
BAD_CREDIT = _CREDIT_BODY + ("0" if credit_code_check_char(_CREDIT_BODY) != "0" else "1")


BAD_INPUTS: list[tuple[str, Any, set[tuple[str, str]]]] = [
    ("not JSON", b"{not json", {("", "json_invalid")}),
    ("not an object", b"[1, 2]", {("", "json_type")}),
    ("missing summary", {"summary": None}, {("summary", "missing")}),
    ("unknown field", {"colour": "red"}, {("colour", "extra_forbidden")}),
    ("unknown channel", {"channel": "fax"}, {("channel", "literal_error")}),
    ("unknown category", {"category": "ufo_sightings"}, {("category", "category_unknown")}),
    ("region not in the table", {"location": {"region": "999999"}}, {("location.region", "region_unknown")}),
    ("receiving unit's region unknown", {"received_by": "159999:petition"}, {("received_by", "unit_region_unknown")}),
    ("malformed target unit", {"target_unit": "hrss"}, {("target_unit", "string_pattern_mismatch")}),
    ("no people", {"people_count": 0}, {("people_count", "greater_than_equal")}),
    ("people not a number", {"people_count": "many"}, {("people_count", "int_type")}),
    ("summary too long", {"summary": "长" * 2001}, {("summary", "string_too_long")}),
    ("empty content", {"content": ""}, {("content", "string_too_short")}),
    ("unknown litigation", {"litigation": "maybe"}, {("litigation", "literal_error")}),
    (
        "identity number check digit",
        {"petitioner": "id_number:checksum"},
        {("petitioner.id_number", "id_number_checksum")},
    ),
    (
        "identity number birth date",
        {"petitioner": "id_number:birth"},
        {("petitioner.id_number", "id_number_birth_date")},
    ),
    (
        "identity number born tomorrow",
        {"petitioner": "id_number:future"},
        {("petitioner.id_number", "id_number_future")},
    ),
    ("15-digit identity number", {"petitioner": "id_number:legacy"}, {("petitioner.id_number", "id_number_legacy")}),
    ("phone number", {"petitioner": "phone:12345"}, {("petitioner.phone", "phone_format")}),
    ("e-mail address", {"petitioner": "email:nobody-at-example"}, {("petitioner.email", "email_format")}),
    ("credit code", {"petitioner": "organisation:bad"}, {("petitioner.credit_code", "credit_code_checksum")}),
    ("anonymous visitor", {"channel": "visit", "petitioner": "anonymous"}, {("petitioner", "anonymous_not_allowed")}),
    ("assignment without handover", {"channel": "assignment"}, {("assignment", "assignment_required")}),
    (
        "referral with a report deadline",
        {"channel": "referral", "assignment": {"from_unit": "150600:petition", "due_days": 10}},
        {("assignment.due_days", "due_days_not_allowed")},
    ),
    (
        "handover on a web case",
        {"assignment": {"from_unit": "150600:petition"}},
        {("assignment", "assignment_not_allowed")},
    ),
    ("phone number in the summary", {"summary": "请回电13800138000"}, {("summary", "summary_personal_data")}),
    ("petitioner's name in the summary", {"summary": "name"}, {("summary", "summary_personal_data")}),
    ("received in the future", {"received_at": "2099-01-01T00:00:00+08:00"}, {("received_at", "received_at_future")}),
    ("received_at without offset", {"received_at": "2026-05-06T09:30:00"}, {("received_at", "timezone_aware")}),
    (
        "several at once",
        {"people_count": 0, "location": {"region": "999999"}, "petitioner": "phone:12345"},
        {
            ("people_count", "greater_than_equal"),
            ("location.region", "region_unknown"),
            ("petitioner.phone", "phone_format"),
        },
    ),
]


def _bad_body(change: Any) -> bytes:
    if isinstance(change, bytes):
        return change
    body = case_body()
    person = body["petitioner"]
    for field, value in change.items():
        if field == "petitioner":
            kind, _, detail = value.partition(":")
            if kind == "id_number":
                person["id_number"] = {
                    "checksum": _wrong_check(person["id_number"]),
                    "birth": _id_with_birth("19850230"),
                    "future": _id_with_birth("20991231"),
                    "legacy": "150627850312123",
                }[detail]
            elif kind in ("phone", "email"):
                person[kind] = detail
            elif kind == "organisation":
                body["petitioner"] = {"kind": "organisation", "organisation_name": "某公司", "credit_code": BAD_CREDIT}
            else:
                body["petitioner"] = {"kind": "anonymous"}
        elif field == "summary" and value == "name":
            body["summary"] = f"{person['name']}反映工资问题。"
        elif value is None:
            body.pop(field)
        else:
            body[field] = value
    return json.dumps(body, ensure_ascii=False).encode()


@pytest.mark.parametrize(("what", "change", "expected"), BAD_INPUTS, ids=[case[0] for case in BAD_INPUTS])
async def test_bad_input_is_refused_naming_the_field_and_nothing_is_stored(
    intake_stack: Settings, what: str, change: Any, expected: set[tuple[str, str]]
) -> None:
    settings = intake_stack
    key = new_key()
    body = _bad_body(change)
    before = await counts(settings)
    async with http(settings) as client:
        answer = await client.post(
            "/v1/cases",
            content=body,
            headers={**headers(settings.intake_dev_api_key, key), "content-type": "application/json"},
        )
    assert answer.status_code == 422, answer.text
    errors = answer.json()["errors"]
    assert {(error["field"], error["code"]) for error in errors} == expected
    assert all(error["message_en"] and error["message_zh"] for error in errors)
    # Messages never repeat what was submitted (it may be an identity number).
    assert not any(value in answer.text for value in PLANTED if len(value) > 4)
    assert await stored_under(settings, "dev", key) == 0
    assert await counts(settings) == before


async def test_resubmission_answers_with_the_same_case_and_a_changed_body_conflicts(intake_stack: Settings) -> None:
    settings = intake_stack
    dev = settings.intake_dev_api_key
    body = case_body("phone")
    body.pop("received_at")  # filled in by intake: a resubmission a minute later is still the same
    key = new_key()
    async with http(settings) as client:
        first = await client.post("/v1/cases", json=body, headers=headers(dev, key))
        again = await client.post("/v1/cases", json=body, headers=headers(dev, key))
        changed = await client.post("/v1/cases", json={**body, "people_count": 2}, headers=headers(dev, key))
    assert first.status_code == 201 and again.status_code == 200, (first.text, again.text)
    assert again.json() == {"case_id": first.json()["case_id"], "status": "already_accepted"}
    assert changed.status_code == 409
    (error,) = changed.json()["errors"]
    assert error["field"] == "Idempotency-Key" and error["code"] == "idempotency_conflict"
    assert first.json()["case_id"] in error["message_en"]
    assert await stored_under(settings, "dev", key) == 1


async def test_concurrent_resubmissions_make_one_case(intake_stack: Settings) -> None:
    settings = intake_stack
    body, key = case_body("online"), new_key()
    async with http(settings) as client:
        answers = await asyncio.gather(
            *(client.post("/v1/cases", json=body, headers=headers(settings.intake_dev_api_key, key)) for _ in range(12))
        )
    assert sorted(answer.status_code for answer in answers) == [200] * 11 + [201]
    assert len({answer.json()["case_id"] for answer in answers}) == 1
    assert await stored_under(settings, "dev", key) == 1


async def test_idempotency_keys_belong_to_their_client(intake_stack: Settings) -> None:
    settings = intake_stack
    other = await add_client(
        settings,
        Client(unique_name("erp"), "upstream", frozenset(CHANNELS), ("150000",), ("150000",)),
    )
    body, key = case_body("letter"), new_key()
    async with http(settings) as client:
        mine = await client.post("/v1/cases", json=body, headers=headers(settings.intake_dev_api_key, key))
        theirs = await client.post("/v1/cases", json=body, headers=headers(other, key))
    assert mine.status_code == theirs.status_code == 201
    assert mine.json()["case_id"] != theirs.json()["case_id"]


async def test_api_keys_authenticate_and_scopes_limit_what_a_client_submits(intake_stack: Settings) -> None:
    settings = intake_stack
    desk_name = unique_name("desk")
    desk = await add_client(
        settings, Client(desk_name, "reception", frozenset({"visit", "letter"}), ("150627",), ("150627",))
    )
    watcher = await add_client(settings, Client(unique_name("ops"), "operator", read_scope=("150627",)))
    before = await counts(settings)
    async with http(settings) as client:
        missing = await client.post("/v1/cases", json=case_body("visit"))
        wrong = await client.post("/v1/cases", json=case_body("visit"), headers=headers(desk[:-4] + "abcd"))
        channel = await client.post("/v1/cases", json=case_body("online"), headers=headers(desk))
        unit = await client.post(
            "/v1/cases", json=case_body("visit", received_by="150602:petition"), headers=headers(desk)
        )
        operator = await client.post("/v1/cases", json=case_body("visit"), headers=headers(watcher))
    assert (missing.status_code, missing.json()["errors"][0]["code"]) == (401, "api_key_missing")
    assert (wrong.status_code, wrong.json()["errors"][0]["code"]) == (401, "api_key_invalid")
    assert channel.status_code == 403 and channel.json()["errors"][0]["field"] == "channel"
    assert unit.status_code == 403 and unit.json()["errors"][0]["field"] == "received_by"
    assert operator.status_code == 403 and operator.json()["errors"][0]["code"] == "role_forbidden"
    assert await counts(settings) == before

    async with http(settings) as client:
        town_visit = await client.post(
            "/v1/cases", json=case_body("visit", received_by="150627107:gov"), headers=headers(desk)
        )
    assert town_visit.status_code == 201, town_visit.text

    # Rotation: a second key works alongside the first; revoking the first leaves the second.
    async with connected(settings) as conn:
        second = (await registry.issue_key(conn, desk_name)).token
        assert await registry.revoke_key(conn, desk.split("_")[1])
    async with http(settings) as client:
        old = await client.post("/v1/cases", json=case_body("letter"), headers=headers(desk))
        new = await client.post("/v1/cases", json=case_body("letter"), headers=headers(second))
    assert old.status_code == 401 and new.status_code == 201

    async with connected(settings) as conn:
        assert await registry.revoke_client(conn, desk_name)
    async with http(settings) as client:
        revoked = await client.post("/v1/cases", json=case_body("letter"), headers=headers(second))
    assert revoked.status_code == 401


async def test_a_batch_gets_one_result_per_case(intake_stack: Settings) -> None:
    settings = intake_stack
    dev = settings.intake_dev_api_key
    desk = await add_client(
        settings, Client(unique_name("desk"), "reception", frozenset({"letter"}), ("150627",), ("150627",))
    )
    first, key = case_body("letter"), new_key()
    person = fresh_person()
    same_matter = [case_body("letter", petitioner=person), case_body("letter", petitioner=person)]
    batch = {
        "cases": [
            {"idempotency_key": key, "case": first},
            {"case": {**case_body("letter"), "people_count": 0}},
            {"idempotency_key": key, "case": first},
            {"idempotency_key": key, "case": {**first, "people_count": 3}},
            {"case": case_body("online")},
            {"case": same_matter[0]},
            {"case": same_matter[1]},
            {"case": "not a case"},
        ]
    }
    async with http(settings) as client:
        answer = await client.post("/v1/cases/batch", json=batch, headers=headers(desk))
    assert answer.status_code == 200, answer.text
    result = answer.json()
    statuses = [item["status"] for item in result["results"]]
    assert statuses == [
        "accepted", "invalid", "already_accepted", "conflict", "forbidden", "accepted", "accepted", "invalid",
    ]  # fmt: skip
    assert (result["accepted"], result["already_accepted"], result["refused"]) == (3, 1, 4)
    items = result["results"]
    assert items[2]["case_id"] == items[0]["case_id"] == items[3]["case_id"]
    assert items[1]["errors"][0]["field"] == "people_count"
    assert items[3]["errors"][0]["field"] == "idempotency_key"
    assert items[4]["errors"][0]["field"] == "channel"
    assert items[7]["errors"][0]["code"] == "json_type"

    # The second case of the matter in the batch sees the first.
    async with http(settings) as client:
        later = (await client.get(f"/v1/cases/{items[6]['case_id']}", headers=headers(dev))).json()
    assert later["history"] == {"prior_cases": 1, "open_case_id": items[5]["case_id"], "concluded": False}
    assert later["merged_into"] == items[5]["case_id"]

    async with http(settings) as client:
        empty = await client.post("/v1/cases/batch", json={"cases": []}, headers=headers(dev))
        huge = await client.post("/v1/cases/batch", json={"cases": [{"case": {}}] * 501}, headers=headers(dev))
        broken = await client.post("/v1/cases/batch", content=b"{", headers=headers(dev))
        anonymous = await client.post("/v1/cases/batch", json=batch)
    assert empty.status_code == huge.status_code == broken.status_code == 422
    assert empty.json()["errors"][0] == {**empty.json()["errors"][0], "field": "cases", "code": "too_short"}
    assert huge.json()["errors"][0]["code"] == "too_long"
    assert anonymous.status_code == 401
