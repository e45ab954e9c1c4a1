"""The router service's parts without Kafka: parsing, the routed event's bytes, one batch, reloads."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from pathlib import Path
from typing import Any

import pytest
from aiokafka import TopicPartition
from aiokafka.structs import ConsumerRecord
from prometheus_client import REGISTRY
from pydantic_core import to_json
from router_helpers import make_case

from services.common.envelope import deterministic_id, now
from services.common.schemas import Assignment
from services.common.settings import Settings
from services.router.batch import route_batch
from services.router.pipeline import Malformed, parse_received, routed_event, routed_id, routed_json
from services.router.rules import CompiledRules, Router
from services.router.samples import received_envelope, sample_cases
from services.router.service import RouterService, Wiring

WIRING = Wiring("in", "out", "dead", "group")


def metric(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def envelope_bytes(**fields: Any) -> bytes:
    return received_envelope(make_case(**fields)).model_dump_json().encode()


def test_parse_names_the_field_and_the_kind_of_problem() -> None:
    not_json = parse_received(b"{not json")
    assert isinstance(not_json, Malformed) and not_json.kind == "not_json"
    assert not_json.reason.startswith("(body): not_json: JSON is malformed")
    body = json.loads(envelope_bytes(case_id="XF-MISSING"))
    del body["data"]["category"]
    missing = parse_received(json.dumps(body).encode())
    assert isinstance(missing, Malformed)
    assert (missing.kind, missing.reason, missing.case_id) == ("invalid", "data.category: Field required", "XF-MISSING")
    body["data"]["category"], body["data"]["people_count"] = "housing", "many"
    wrong = parse_received(json.dumps(body).encode())
    assert isinstance(wrong, Malformed) and wrong.reason.startswith(
        "data.people_count: Input should be a valid integer"
    )
    body["data"]["people_count"], body["type"] = 3, "case.routed"
    other = parse_received(json.dumps(body).encode())
    assert isinstance(other, Malformed) and other.kind == "wrong_type" and other.reason.startswith("type: ")
    assert not isinstance(parse_received(envelope_bytes()), Malformed)


def test_routed_event_bytes_are_the_models_serialisation(demo_rules: CompiledRules) -> None:
    router = Router(demo_rules)
    cases = sample_cases(demo_rules, 300, seed=5)
    cases.append(make_case(case_id='XF-"引号"\\-1', assignment=Assignment(from_unit="150600:petition", due_days=15)))
    at = now()
    for case, decision in zip(cases, router.decide_many(cases), strict=True):
        received = received_envelope(case, event_id=f"evt-{case.case_id}-✓")
        event_id, value = routed_json(received, decision.model_dump_json().encode(), to_json(at))
        model = routed_event(received, decision, at)
        assert value == model.model_dump_json().encode()
        assert event_id == model.id == routed_id(received) == deterministic_id("case.routed", received.id)
        assert type(model).model_validate_json(value) == model  # everything the schema demands holds
    router.close()


Sent = tuple[str, bytes, bytes, list[tuple[str, bytes]]]  # topic, value, key, headers


class FakeBatch:
    """aiokafka's BatchBuilder as the router fills it (services/router/batch.py `publish`)."""

    def __init__(self) -> None:
        self.records: list[tuple[bytes, bytes, list[tuple[str, bytes]]]] = []

    def append(self, *, key: bytes, value: bytes, timestamp: None, headers: list[tuple[str, bytes]]) -> object:
        self.records.append((key, value, headers))
        return object()  # metadata: the record fitted


class FakeProducer:
    """The producer API the router uses: record batches for routed events, send() for dead letters."""

    def __init__(self, fail: bool = False) -> None:
        self.sent: list[Sent] = []
        self.fail = fail

    async def partitions_for(self, topic: str) -> set[int]:
        return {0, 1, 2}

    def create_batch(self) -> FakeBatch:
        return FakeBatch()

    async def send_batch(self, batch: FakeBatch, topic: str, *, partition: int) -> asyncio.Future[Any]:
        return self._taken([(topic, value, key, headers) for key, value, headers in batch.records])

    async def send(self, topic: str, value: bytes, key: bytes, headers: list[tuple[str, bytes]]) -> asyncio.Future[Any]:
        return self._taken([(topic, value, key, headers)])

    def _taken(self, records: list[Sent]) -> asyncio.Future[Any]:
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        if self.fail:
            future.set_exception(ConnectionError("broker gone"))
        else:
            self.sent += records
            future.set_result(None)
        return future


class FakeConsumer:
    def highwater(self, partition: TopicPartition) -> int:
        return 100


class FakeMessage:
    def __init__(self, values: list[bytes]) -> None:
        stamp = int(time.time() * 1000)
        self.raw_message = tuple(
            ConsumerRecord("in", 2, 40 + n, stamp, 0, b"key", value, None, 3, len(value), [])
            for n, value in enumerate(values)
        )
        self.consumer = FakeConsumer()


async def test_one_batch_routes_the_good_and_dead_letters_the_rest(demo_rules: CompiledRules) -> None:
    router = Router(demo_rules)
    producer = FakeProducer()
    values = [
        envelope_bytes(case_id="XF-A"),
        b"nonsense",
        envelope_bytes(case_id="XF-B", location={"region": "159999999"}),
    ]
    values.append(envelope_bytes(case_id="XF-C", people_count=6))
    before = {reason: metric("xf_router_dead_letters_total", reason=reason) for reason in ("not_json", "undecidable")}
    hits = metric("xf_router_rule_hits_total", rule="flags.collective")
    outcome = await route_batch(router, producer, WIRING, FakeMessage(values))  # type: ignore[arg-type]
    router.close()

    assert (outcome.routed, outcome.dead_letters) == (2, 2)
    routed = [(json.loads(value), key, dict(headers)) for topic, value, key, headers in producer.sent if topic == "out"]
    assert [event["caseid"] for event, _, _ in routed] == ["XF-A", "XF-C"]
    for event, key, headers in routed:
        assert key == event["caseid"].encode() and headers["ce-id"] == event["id"].encode()
        assert headers["ce-type"] == b"case.routed" and event["data"]["decision"]["handling_unit"] == "150627:hrss"
    dead = {
        json.loads(value)["data"]["offset"]: json.loads(value)
        for topic, value, _, _ in producer.sent
        if topic == "dead"
    }
    assert dead[41]["data"]["reason"].startswith("(body): not_json: ") and dead[41]["caseid"] == "unknown"
    assert dead[42]["data"]["reason"] == "no decision: location.region: unknown region code '159999999'"
    assert dead[42]["caseid"] == "XF-B" and dead[42]["data"]["consumer"] == "router"
    assert dead[42]["id"] == deterministic_id("case.deadletter", "router", "in", "2", "42")  # the same on redelivery
    assert metric("xf_router_dead_letters_total", reason="not_json") == before["not_json"] + 1
    assert metric("xf_router_dead_letters_total", reason="undecidable") == before["undecidable"] + 1
    assert metric("xf_router_rule_hits_total", rule="flags.collective") == hits + 1
    assert metric("xf_router_consumer_lag_records", partition="2") == 100 - 43 - 1


async def test_a_batch_fails_only_when_kafka_does_not_take_the_events(demo_rules: CompiledRules) -> None:
    router = Router(demo_rules)
    with pytest.raises(ConnectionError):
        await route_batch(router, FakeProducer(fail=True), WIRING, FakeMessage([envelope_bytes()]))  # type: ignore[arg-type]
    router.close()


async def test_an_unexpected_failure_dead_letters_only_the_case_that_causes_it(
    demo_rules: CompiledRules, monkeypatch: pytest.MonkeyPatch
) -> None:
    router = Router(demo_rules)
    original = Router.encode_each  # what the service calls

    def broken(self: Router, cases: Any) -> Any:
        if any(case.case_id == "XF-BUG" for case in cases):
            raise KeyError("a bug")
        return original(self, cases)

    monkeypatch.setattr(Router, "encode_each", broken)
    producer = FakeProducer()
    values = [envelope_bytes(case_id="XF-OK"), envelope_bytes(case_id="XF-BUG")]
    outcome = await route_batch(router, producer, WIRING, FakeMessage(values))  # type: ignore[arg-type]
    router.close()
    assert (outcome.routed, outcome.dead_letters) == (1, 1)
    [letter] = [json.loads(value) for topic, value, _, _ in producer.sent if topic == "dead"]
    assert letter["caseid"] == "XF-BUG" and "internal error" in letter["data"]["reason"]


def test_reload_refuses_broken_rules_and_swaps_valid_ones(rules_copy: Path, caplog: pytest.LogCaptureFixture) -> None:
    service = RouterService(Settings(rules_dir=rules_copy), WIRING)
    good = service.router.rules.version
    refused, applied = (metric("xf_router_rule_reloads_total", outcome=o) for o in ("refused", "applied"))
    table = rules_copy / "tables" / "deadline.yaml"
    text = table.read_text()
    table.write_text(text.replace("when: {urgency: [urgent, critical]}", "when: {urgncy: [urgent, critical]}"))
    with caplog.at_level(logging.ERROR, logger="xf.router"):
        assert service.reload() is False
    line = next(n for n, row in enumerate(table.read_text().splitlines(), 1) if "urgncy" in row)
    assert f"rules/tables/deadline.yaml:{line}: deadline.urgent: unknown fact 'urgncy'" in caplog.text
    assert metric("xf_router_rule_reloads_total", outcome="refused") == refused + 1
    assert service.router.rules.version == good
    assert service.router.decide(make_case(people_count=9)).deadline_policy == "urgent"

    table.write_text(text.replace("then: {deadline_policy: urgent}", "then: {deadline_policy: standard}"))
    assert service.reload() is True
    assert service.router.rules.version != good
    assert metric("xf_router_rule_reloads_total", outcome="applied") == applied + 1
    assert metric("xf_router_ruleset_info", version=service.router.rules.version) == 1.0
    assert service.router.decide(make_case(people_count=9)).deadline_policy == "standard"
    unchanged = metric("xf_router_rule_reloads_total", outcome="unchanged")
    assert service.reload() is True
    assert metric("xf_router_rule_reloads_total", outcome="unchanged") == unchanged + 1
    service.router.close()


def test_observe_many_counts_as_observe_does() -> None:
    from prometheus_client import CollectorRegistry, Histogram

    from services.router.metrics import observe_many

    registry = CollectorRegistry()
    buckets = (0.005, 0.01, 0.025, 0.05, 0.1)
    one_by_one = Histogram("one_by_one", "", buckets=buckets, registry=registry)
    at_once = Histogram("at_once", "", buckets=buckets, registry=registry)
    amounts = [0.0, 0.005, 0.0050001, 0.01, 0.02, 0.02, 0.1, 0.3, 7.0, 0.001]
    for amount in amounts:
        one_by_one.observe(amount)
    observe_many(at_once, amounts)
    observe_many(at_once, [])

    def samples(name: str) -> list[tuple[str, float]]:
        [family] = [family for family in registry.collect() if family.name == name]
        return [
            (sample.name.removeprefix(name), sample.value) for sample in family.samples if "created" not in sample.name
        ]

    assert samples("at_once") == samples("one_by_one")
    assert registry.get_sample_value("at_once_bucket", {"le": "0.01"}) == 5  # cumulative
