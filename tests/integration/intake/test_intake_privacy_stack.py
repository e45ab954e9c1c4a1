"""No personal data on any topic (but `case.submitted`, which is upstream's input), in intake's log or
in its metrics: cases are planted through every path (HTTP, batch, Kafka, refusals, a conflict), then
every event of every topic is searched, for the planted values and for anything that looks like an
identity number, phone number or e-mail address."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

from intake_helpers import (
    PLANTED,
    case_body,
    case_for_event,
    fresh_person,
    headers,
    http,
    new_key,
    publish_submitted,
    read_events,
    submitted_event,
)
from polling import eventually

from services.common.settings import Settings
from services.common.topics import ALL_TOPICS, CASE_SUBMITTED
from services.intake.identity import credit_code_check_char, find_identifiers

# Values that are opaque by construction: ids, pseudonyms, hashes, case numbers, timestamps.
OPAQUE = re.compile(
    r"^(?:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
    r"|[pam]1_[0-9a-f]{64}|[0-9a-f]{16,}|sha256:[0-9a-f]{64}|XF\d{6}-\d{8}-\d{6,15}"
    r"|\d{4}-\d{2}-\d{2}T[\d:.]+(?:Z|[+-]\d{2}:\d{2}))$"
)


def strings(value: Any) -> Iterator[str]:
    """Every string inside a decoded event, descending into strings that are JSON themselves
    (dead letters carry the refused event's bytes as text)."""
    if isinstance(value, dict):
        for item in value.values():
            yield from strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings(item)
    elif isinstance(value, str):
        if value[:1] in "{[":
            try:
                yield from strings(json.loads(value))
                return
            except ValueError:
                pass
        yield value


def leaks(event: dict[str, Any]) -> list[str]:
    found = []
    for text in strings({key: value for key, value in event.items() if key != "_topic"}):
        if any(value in text for value in PLANTED if len(value) >= 2):
            found.append(f"planted value in {text[:80]!r}")
        elif not OPAQUE.match(text) and find_identifiers(text):
            found.append(f"{find_identifiers(text)[0].kind} in {text[:80]!r}")
    return found


async def plant(settings: Settings) -> tuple[set[str], set[str]]:
    """Cases with personal data everywhere a submission can hold it; returns (accepted case ids,
    dead-lettered event ids)."""
    dev = settings.intake_dev_api_key
    body = case_body("visit", petitioner=fresh_person(email="zhang.planted@example.cn"))
    organisation = {
        "kind": "organisation",
        "organisation_name": "某某测试有限责任公司",
        "credit_code": "91150627MA0R1T2Y5" + credit_code_check_char("91150627MA0R1T2Y5"),
        "name": "测联系人",
        "phone": "0477-8612345",
        "address": "鄂尔多斯市某路88号",
    }
    PLANTED.update(str(value) for key, value in organisation.items() if key != "kind")
    accepted: set[str] = set()
    key = new_key()
    async with http(settings) as client:
        for payload in (body, case_body("letter", petitioner=organisation)):
            answer = await client.post(
                "/v1/cases", json=payload, headers=headers(dev, key if payload is body else None)
            )
            assert answer.status_code == 201, answer.text
            accepted.add(answer.json()["case_id"])
        conflict = await client.post("/v1/cases", json={**body, "people_count": 2}, headers=headers(dev, key))
        invalid = await client.post("/v1/cases", json={**case_body("visit"), "people_count": 0}, headers=headers(dev))
        batch = await client.post(
            "/v1/cases/batch", json={"cases": [{"case": case_body("phone")}]}, headers=headers(dev)
        )
    assert conflict.status_code == 409 and invalid.status_code == 422 and batch.status_code == 200
    accepted.add(batch.json()["results"][0]["case_id"])

    good = submitted_event(case_body("email", petitioner=fresh_person()))
    refused = submitted_event({**case_body("letter"), "people_count": 0})
    clash = {**good, "data": {**good["data"], "people_count": 3}}
    await publish_submitted(settings, [good, refused, clash])

    accepted.add(await eventually(lambda: case_for_event(settings, "dev", good["id"]), what="the Kafka case"))
    return accepted, {refused["id"], clash["id"]}


async def test_no_topic_log_or_metric_carries_personal_data(running_stack: Settings) -> None:
    settings = running_stack
    accepted, refused = await plant(settings)

    def everything_arrived(events: list[dict[str, Any]]) -> bool:
        routed = {event["caseid"] for event in events if event["_topic"] == "case.routed"}
        letters = {
            json.loads(event["data"]["payload"]).get("event_id")
            for event in events
            if event["_topic"] == "case.deadletter" and event["data"].get("consumer") == "intake"
        }
        return accepted <= routed and refused <= letters

    topics = tuple(topic.name for topic in ALL_TOPICS if topic.name != CASE_SUBMITTED.name)
    await read_events(settings, topics, until=everything_arrived, timeout=90)
    events = await read_events(settings, topics, idle=5, timeout=180)
    assert {event["_topic"] for event in events} >= {"case.received", "case.routed", "case.deadletter"}
    problems = {f"{event['_topic']} {event.get('id')}: {leak}" for event in events for leak in leaks(event)}
    assert not problems, sorted(problems)[:10]

    log = (settings.stack_dir / "logs" / "intake.log").read_text(encoding="utf-8", errors="replace")
    assert not [value for value in PLANTED if len(value) >= 2 and value in log]
    async with http(settings) as client:
        metrics = (await client.get("/metrics")).text
    assert not [value for value in PLANTED if len(value) >= 2 and value in metrics]


def test_the_scan_finds_what_it_looks_for() -> None:
    PLANTED.add("测隐私样本")
    assert leaks({"data": {"summary": "测隐私样本反映问题"}})
    assert leaks({"data": {"payload": json.dumps({"note": "请回电13912345678"})}})
    assert leaks({"data": {"reason": "mail zhang@example.cn"}})
    assert not leaks({"id": "6f1d3c2e-5b8a-4c1e-9d7f-2a4b6c8e0f13", "data": {"petitioner_key": "p1_" + "0" * 64}})
    assert not leaks({"caseid": "XF150627-20260506-000123", "time": "2026-05-06T09:30:00+08:00"})
