"""Through the router: a case published on Kafka and the same case over HTTP are routed identically,
and a letter and a visit on the same matter end up as one case (the router merges the second)."""

from __future__ import annotations

from typing import Any

from intake_helpers import (
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

# Different routes: forward with a target, a collective visit, an assignment, a legal matter, an
# anonymous web case, a referral, a town government's own registration, a visit at the province.
VARIANTS: list[dict[str, Any]] = [
    {"channel": "letter", "target_unit": "150627:hrss"},
    {"channel": "visit", "people_count": 8},
    {"channel": "assignment", "category": "housing"},
    {"channel": "online", "litigation": "pending"},
    {"channel": "online", "petitioner": "anonymous", "category": "environment"},
    {"channel": "referral", "category": "social_security"},
    {"channel": "phone", "received_by": "150627107:gov", "category": "village_affairs"},
    {"channel": "visit", "received_by": "150000:petition", "category": "land_acquisition"},
]


def twin(variant: dict[str, Any]) -> dict[str, Any]:
    """The variant with a petitioner of its own (so that neither twin is the other's history)."""
    fields = dict(variant)
    channel = fields.pop("channel")
    if fields.pop("petitioner", None) == "anonymous":
        fields["petitioner"] = {"kind": "anonymous"}
    return case_body(channel, **fields)


def without(data: dict[str, Any], *names: str) -> dict[str, Any]:
    return {key: value for key, value in data.items() if key not in names}


async def test_kafka_and_http_cases_reach_the_router_identically(running_stack: Settings) -> None:
    settings = running_stack
    pairs: list[tuple[str, str]] = []
    async with http(settings) as client:
        for variant in VARIANTS:
            over_kafka, over_http = twin(variant), twin(variant)
            event = submitted_event(over_kafka)
            await publish_submitted(settings, [event])
            answer = await client.post(
                "/v1/cases", json=over_http, headers=headers(settings.intake_dev_api_key, new_key())
            )
            assert answer.status_code == 201, answer.text
            kafka_case = await eventually(
                lambda event=event: case_for_event(settings, "dev", event["id"]), what="the Kafka case"
            )
            pairs.append((kafka_case, answer.json()["case_id"]))
    wanted = {case_id for pair in pairs for case_id in pair}

    def complete(events: list[dict[str, Any]]) -> bool:
        return {(event["_topic"], event["caseid"]) for event in events} >= {
            (topic, case_id) for topic in ("case.received", "case.routed") for case_id in wanted
        }

    events = await read_events(
        settings,
        ("case.received", "case.routed"),
        keep=lambda event: event["caseid"] in wanted,
        until=complete,
        timeout=60,
    )
    data = {(event["_topic"], event["caseid"]): event["data"] for event in events}
    for (kafka_case, http_case), variant in zip(pairs, VARIANTS, strict=True):
        received = [
            without(data[("case.received", case)], "case_id", "petitioner_key") for case in (kafka_case, http_case)
        ]
        assert received[0] == received[1], variant
        routed = [
            without(data[("case.routed", case)], "case_id", "received_event_id", "routed_at")
            for case in (kafka_case, http_case)
        ]
        assert routed[0] == routed[1], variant
        assert routed[0]["decision"]["trace"], variant


async def test_a_letter_and_a_visit_on_one_matter_become_one_case(running_stack: Settings) -> None:
    settings = running_stack
    person = fresh_person()
    ids = []
    async with http(settings) as client:
        for channel in ("letter", "visit"):
            body = case_body(channel, petitioner=person, target_unit="150627:hrss")
            answer = await client.post("/v1/cases", json=body, headers=headers(settings.intake_dev_api_key))
            assert answer.status_code == 201, answer.text
            ids.append(answer.json()["case_id"])
    letter, visit = ids

    async def routed_visit() -> dict[str, Any] | None:
        async with http(settings) as client:
            view: dict[str, Any] = (
                await client.get(f"/v1/cases/{visit}", headers=headers(settings.intake_dev_api_key))
            ).json()
        return view if view["routing"] else None

    view = await eventually(routed_visit, timeout=60, what="the visit's routing")
    assert view["routing"]["disposition"] == "merge"
    assert view["status"] == "merged" and view["merged_into"] == letter
