"""The router service on the real broker: cases in, decisions out, dead letters, redelivery, and a hot
reload and a refused bad reload while cases keep flowing.

Kafka comes from the integration stack (started here if it is not running); the RouterService runs in
this process on topics and a consumer group of its own, with a private copy of rules/ to change.
"""

from __future__ import annotations

import asyncio
import json
import logging
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from prometheus_client import REGISTRY
from router_stack import Outputs, eventually, publish, quiet

from services import stack
from services.common.envelope import deterministic_id
from services.common.kafka import client_options
from services.common.schemas import ReceivedCase
from services.common.settings import PROJECT_ROOT, Settings
from services.common.topics import CASE_RECEIVED
from services.router.rules import Router, load_rules
from services.router.samples import received_envelope, sample_cases
from services.router.service import RouterService, Wiring

WAGE_ARREARS_HRSS = "    when: {category: wage_arrears}\n    then: {department: hrss, level: county}\n"
WAGE_ARREARS_GOV = "    when: {category: wage_arrears}\n    then: {department: gov, level: county}\n"


def metric(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def case(case_id: str, **fields: Any) -> ReceivedCase:
    body: dict[str, Any] = {
        "case_id": case_id,
        "received_at": "2026-05-06T10:00:00+08:00",
        "channel": "letter",
        "received_by": "150627:petition",
        "category": "wage_arrears",
        "location": {"region": "150627107"},
        "petitioner_key": "p1_integration_0001",
    }
    return ReceivedCase.model_validate(body | fields)


def record(received: ReceivedCase, event_id: str | None = None) -> tuple[str, bytes]:
    envelope = received_envelope(received, event_id)
    return envelope.caseid, envelope.model_dump_json().encode()


@pytest.fixture(scope="module")
def kafka(stack_settings: Settings) -> Iterator[Settings]:
    """The integration stack's Kafka; started (and stopped afterwards) only if it is not running."""
    running = {part.name for part in stack.status(stack_settings, ["kafka"]) if part.running}
    stack.up(stack_settings, ["kafka"], report=quiet)
    try:
        yield stack_settings
    finally:
        if "kafka" not in running:
            stack.down(stack_settings, ["kafka"], report=quiet)


@pytest.fixture(scope="module")
def rules_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("router-service") / "rules"
    shutil.copytree(PROJECT_ROOT / "rules", target)
    return target


@pytest.fixture(scope="module")
def wiring() -> Wiring:
    tag = uuid.uuid4().hex[:8]
    return Wiring(f"test.received.{tag}", f"test.routed.{tag}", f"test.deadletter.{tag}", f"router-test-{tag}")


@pytest.fixture(scope="module")
async def service(kafka: Settings, rules_dir: Path, wiring: Wiring) -> AsyncIterator[RouterService]:
    router = RouterService(kafka.model_copy(update={"rules_dir": rules_dir}), wiring)
    await router.start()
    try:
        yield router
    finally:
        await router.stop()


@pytest.fixture(scope="module")
async def outputs(kafka: Settings, service: RouterService, wiring: Wiring) -> AsyncIterator[Outputs]:
    collected = Outputs(kafka, wiring.routed, wiring.deadletter)
    await collected.start()
    try:
        yield collected
    finally:
        await collected.stop()


async def test_cases_in_decisions_out(
    kafka: Settings, service: RouterService, wiring: Wiring, outputs: Outputs
) -> None:
    rules = load_rules(service.settings.rules_dir)
    cases = [c.model_copy(update={"case_id": f"IN-{c.case_id}"}) for c in sample_cases(rules, 60, seed=21)]
    envelopes = [received_envelope(c) for c in cases]
    before = metric("xf_router_decisions_total", disposition="forward", level="county", urgency="normal")
    await publish(kafka, wiring.received, [(e.caseid, e.model_dump_json().encode()) for e in envelopes])

    reference = Router(rules)
    expected = reference.decide_each(cases)
    reference.close()
    for envelope, decision in zip(envelopes, expected, strict=True):
        [event] = await outputs.routed_for(envelope.caseid)
        assert event["type"] == "case.routed" and event["caseid"] == envelope.caseid
        assert event["id"] == deterministic_id("case.routed", envelope.id)
        assert event["data"]["received_event_id"] == envelope.id
        assert event["data"]["region"] == envelope.data.location.region
        if isinstance(decision, Exception):
            pytest.fail(f"{envelope.caseid}: the samples are all decidable, got {decision}")
        assert event["data"]["decision"] == decision.model_dump(mode="json")
        assert event["data"]["decision"]["ruleset_version"] == rules.version
    forwarded = sum(
        1
        for d in expected
        if not isinstance(d, Exception)
        and (d.disposition, d.handling_level, d.urgency) == ("forward", "county", "normal")
    )
    assert forwarded > 0
    after = metric("xf_router_decisions_total", disposition="forward", level="county", urgency="normal")
    assert after - before == forwarded
    assert metric("xf_router_rule_hits_total", rule="competence.wage_arrears") > 0
    assert metric("xf_router_ruleset_info", version=rules.version) == 1.0


async def test_malformed_records_go_to_the_dead_letter_topic_naming_the_field(
    kafka: Settings, service: RouterService, wiring: Wiring, outputs: Outputs
) -> None:
    good = received_envelope(case("DLQ-GOOD-1"))
    missing = json.loads(received_envelope(case("DLQ-MISSING")).model_dump_json())
    del missing["data"]["category"]
    wrong_type = json.loads(received_envelope(case("DLQ-TYPE")).model_dump_json())
    wrong_type["data"]["people_count"] = "many"
    unknown_region = received_envelope(case("DLQ-REGION", location={"region": "159999999"}))
    before = {
        reason: metric("xf_router_dead_letters_total", reason=reason)
        for reason in ("not_json", "invalid", "undecidable")
    }
    await publish(
        kafka,
        wiring.received,
        [
            ("DLQ-NOTJSON", b"{this is not json DLQ-NOTJSON"),
            ("DLQ-MISSING", json.dumps(missing).encode()),
            (good.caseid, good.model_dump_json().encode()),
            ("DLQ-TYPE", json.dumps(wrong_type).encode()),
            (unknown_region.caseid, unknown_region.model_dump_json().encode()),
        ],
    )

    not_json = await outputs.dead_letter_for("DLQ-NOTJSON")
    assert "(body): not_json: " in not_json["data"]["reason"] and not_json["data"]["consumer"] == "router"
    assert not_json["data"]["topic"] == wiring.received and not_json["data"]["offset"] is not None
    absent = await outputs.dead_letter_for('"DLQ-MISSING"')
    assert absent["data"]["reason"] == "data.category: Field required" and absent["caseid"] == "DLQ-MISSING"
    typed = await outputs.dead_letter_for('"DLQ-TYPE"')
    assert typed["data"]["reason"].startswith("data.people_count: ")
    region = await outputs.dead_letter_for('"DLQ-REGION"')
    assert region["data"]["reason"] == "no decision: location.region: unknown region code '159999999'"
    [routed] = await outputs.routed_for(good.caseid)  # the good case in between is routed all the same
    assert routed["data"]["decision"]["handling_unit"] == "150627:hrss"
    assert metric("xf_router_dead_letters_total", reason="not_json") - before["not_json"] == 1
    assert metric("xf_router_dead_letters_total", reason="invalid") - before["invalid"] == 2
    assert metric("xf_router_dead_letters_total", reason="undecidable") - before["undecidable"] == 1


async def test_issue_11_fields_on_the_real_broker(kafka: Settings, wiring: Wiring, outputs: Outputs) -> None:
    """residence, new_facts, history.open_case_overdue and assignment.assigned_at in case.received;
    the flags and the own-complaint rule in case.routed; assigned_at carried for the tracker."""
    cases = [
        case("I11-SEPARATION", residence={"region": "150602"}),
        case("I11-NEWFACTS", history={"prior_cases": 3, "concluded": True}, new_facts=True),
        case("I11-CONCLUDED", history={"prior_cases": 3, "concluded": True}),
        case("I11-BACKLOG", history={"prior_cases": 1, "open_case_id": "XF-OPEN-9", "open_case_overdue": True}),
        case("I11-OWN", received_by="150000:hrss", target_unit="150000:hrss"),
        case(
            "I11-ASSIGNED",
            channel="assignment",
            assignment={"from_unit": "150600:petition", "due_days": 20, "assigned_at": "2026-05-01T09:00:00+08:00"},
        ),
    ]
    await publish(kafka, wiring.received, [record(c) for c in cases])
    routed = {c.case_id: (await outputs.routed_for(c.case_id))[0]["data"] for c in cases}
    assert routed["I11-SEPARATION"]["decision"]["flags"] == ["first_time", "separation"]
    assert routed["I11-SEPARATION"]["decision"]["handling_unit"] == "150627:hrss"
    assert (routed["I11-NEWFACTS"]["decision"]["disposition"], routed["I11-NEWFACTS"]["decision"]["flags"]) == (
        "forward",
        ["repeat"],
    )
    assert routed["I11-CONCLUDED"]["decision"]["disposition"] == "reject_concluded"
    assert "backlog" in routed["I11-BACKLOG"]["decision"]["flags"]
    assert routed["I11-OWN"]["decision"]["handling_unit"] == "150000:gov"
    assert routed["I11-ASSIGNED"]["assignment"] == {
        "from_unit": "150600:petition",
        "due_days": 20,
        "assigned_at": "2026-05-01T09:00:00+08:00",
    }


async def test_a_redelivered_case_yields_the_same_event(kafka: Settings, wiring: Wiring, outputs: Outputs) -> None:
    received = case("REDELIVERED-1")
    event_id = str(uuid.uuid4())
    await publish(kafka, wiring.received, [record(received, event_id)])
    await outputs.routed_for("REDELIVERED-1")
    await publish(kafka, wiring.received, [record(received, event_id)])  # at least once upstream: the same event again
    first, second = await outputs.routed_for("REDELIVERED-1", count=2)
    assert first["id"] == second["id"] == deterministic_id("case.routed", event_id)
    assert first["data"]["decision"] == second["data"]["decision"]


async def test_hot_reload_and_refused_reload_while_cases_flow(
    kafka: Settings,
    service: RouterService,
    wiring: Wiring,
    outputs: Outputs,
    rules_dir: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="xf.router")
    old_version = service.router.rules.version
    applied, refused = (
        metric("xf_router_rule_reloads_total", outcome="applied"),
        metric("xf_router_rule_reloads_total", outcome="refused"),
    )
    stream: list[str] = []
    flowing = asyncio.Event()

    async def keep_publishing() -> None:
        n = 0
        while not flowing.is_set():
            n += 1
            stream.append(f"STREAM-{n}")
            await publish(kafka, wiring.received, [record(case(f"STREAM-{n}"))])
            await asyncio.sleep(0.05)

    publisher = asyncio.create_task(keep_publishing())
    try:
        await outputs.routed_for("STREAM-3")

        # A valid change: wage arrears now go to the county government.
        competence = rules_dir / "tables" / "competence.yaml"
        reloads = service.reloads
        competence.write_text(competence.read_text().replace(WAGE_ARREARS_HRSS, WAGE_ARREARS_GOV, 1))
        await eventually(lambda: service.reloads > reloads, "the change is picked up")
        new_version = service.router.rules.version
        assert new_version != old_version
        assert metric("xf_router_rule_reloads_total", outcome="applied") == applied + 1
        assert metric("xf_router_ruleset_info", version=new_version) == 1.0
        after_reload = f"STREAM-{len(stream) + 1}"
        [event] = await outputs.routed_for(after_reload)
        decision = event["data"]["decision"]
        assert decision["ruleset_version"] == new_version and decision["handling_unit"] == "150627:gov"
        assert "competence.wage_arrears" in decision["trace"]

        # An invalid change: refused with file:line, and routing goes on with the last good version.
        placement = rules_dir / "tables" / "placement.yaml"
        reloads = service.reloads
        placement.write_text(placement.read_text().replace("when: {has_target: true}", "when: {has_targt: true}"))
        await eventually(lambda: service.reloads > reloads, "the broken change is looked at")
        assert metric("xf_router_rule_reloads_total", outcome="refused") == refused + 1
        assert service.router.rules.version == new_version
        line = next(n for n, text in enumerate(placement.read_text().splitlines(), 1) if "has_targt" in text)
        assert f"rules/tables/placement.yaml:{line}: placement.own_conduct: unknown fact 'has_targt'" in caplog.text
        after_refusal = f"STREAM-{len(stream) + 1}"
        [event] = await outputs.routed_for(after_refusal)
        assert event["data"]["decision"]["ruleset_version"] == new_version
    finally:
        flowing.set()
        await publisher

    # Nothing published during the reloads was lost, and every case carries a version that was in force.
    for case_id in stream:
        [event] = await outputs.routed_for(case_id)
        decision = event["data"]["decision"]
        assert decision["ruleset_version"] in (old_version, new_version)
        expected_unit = "150627:hrss" if decision["ruleset_version"] == old_version else "150627:gov"
        assert decision["handling_unit"] == expected_unit


async def committed_offsets(settings: Settings, topic: str, group: str) -> tuple[int, int]:
    """(sum of the group's committed offsets, sum of the end offsets) over the topic's partitions."""
    consumer = AIOKafkaConsumer(**client_options(settings), group_id=group, enable_auto_commit=False)
    await consumer.start()
    try:
        partitions = [TopicPartition(topic, p) for p in range(CASE_RECEIVED.partitions)]  # as the service made it
        ends = await consumer.end_offsets(partitions)
        committed = [await consumer.committed(partition) or 0 for partition in partitions]
        return sum(committed), sum(ends.values())
    finally:
        await consumer.stop()


async def test_a_router_stopped_mid_stream_hands_over_without_losing_a_case(kafka: Settings) -> None:
    tag = uuid.uuid4().hex[:8]
    wiring = Wiring(f"test.received.{tag}", f"test.routed.{tag}", f"test.deadletter.{tag}", f"router-test-{tag}")
    settings = kafka.model_copy(update={"rules_dir": PROJECT_ROOT / "rules"})  # not the module's: broken above
    rules = load_rules(settings.rules_dir)
    cases = [c.model_copy(update={"case_id": f"HO-{c.case_id}"}) for c in sample_cases(rules, 4000, seed=23)]
    first = RouterService(settings, wiring)
    await first.start(watch=False)
    outputs = Outputs(kafka, wiring.routed, wiring.deadletter)
    await outputs.start()

    async def keep_publishing() -> None:  # cases keep coming while the routers change
        for start in range(0, len(cases), 200):
            await publish(kafka, wiring.received, [record(c) for c in cases[start : start + 200]])
            await asyncio.sleep(0.2)

    publisher = asyncio.create_task(keep_publishing())
    try:
        await eventually(lambda: len(outputs.routed) >= 500, "the first router routes some cases")
        await first.stop()  # mid-stream: batches in flight are acknowledged and committed first
        assert not publisher.done()
        handed_over, _ = await committed_offsets(kafka, wiring.received, wiring.group)
        assert 0 < handed_over <= len(outputs.routed)  # no offset committed before its case was routed
        second = RouterService(settings, wiring)
        await second.start(watch=False)
        try:
            await publisher
            await eventually(lambda: len(outputs.routed) == len(cases), "every case routed", timeout=120)
            await second.commits.drain()
            assert await committed_offsets(kafka, wiring.received, wiring.group) == (len(cases), len(cases))
        finally:
            await second.stop()
    finally:
        publisher.cancel()
        await outputs.stop()
    assert all(c.case_id in outputs.routed for c in cases) and not outputs.dead
