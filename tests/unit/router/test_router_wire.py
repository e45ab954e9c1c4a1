"""The router's fast reading (services/router/wire.py) accepts nothing the pydantic schema refuses,
reads the same values, and is the path the router's own cases take."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import msgspec
import pytest
from pydantic import BaseModel, ValidationError
from pydantic_core import PydanticUndefined, to_json
from router_helpers import make_case

from services.common.envelope import Envelope
from services.common.schemas import Assignment, History, Location, ReceivedCase, Residence
from services.router import wire
from services.router.facts import case_facts
from services.router.pipeline import RECEIVED, Malformed, parse_received, routed_json
from services.router.received import ReceivedLike
from services.router.rules import CompiledRules
from services.router.samples import received_envelope, sample_cases

PAIRS: list[tuple[type[msgspec.Struct], type[BaseModel]]] = [
    (wire.WireEnvelope, Envelope[ReceivedCase]),
    (wire.WireCase, ReceivedCase),
    (wire.Location, Location),
    (wire.History, History),
    (wire.Assignment, Assignment),
    (wire.Residence, Residence),
]


@pytest.mark.parametrize(("struct", "model"), PAIRS, ids=[model.__name__ for _, model in PAIRS])
def test_the_structs_have_the_models_fields_and_defaults(struct: type[msgspec.Struct], model: type[BaseModel]) -> None:
    fields = {field.encode_name: field for field in msgspec.structs.fields(struct)}
    assert set(fields) == set(model.model_fields)
    for name, info in model.model_fields.items():
        field = fields[name]
        if info.is_required():
            assert field.required, name
            continue
        default = field.default if field.default is not msgspec.NODEFAULT else field.default_factory()
        expected = info.default
        assert expected is not PydanticUndefined
        if isinstance(expected, BaseModel):
            assert msgspec.to_builtins(default) == expected.model_dump(), name
        else:
            assert default == expected, name


def projection(received: ReceivedLike) -> dict[str, Any]:
    """Every attribute the router reads of a received event."""
    case = received.data
    assignment = case.assignment
    return {
        "envelope": (received.id, received.type, received.caseid),
        "case": (case.case_id, case.received_at, case.channel, case.received_by, case.category, case.location.region),
        "numbers": (case.people_count, case.target_unit, case.litigation),
        "history": (
            case.history.prior_cases,
            case.history.open_case_id,
            case.history.concluded,
            case.history.open_case_overdue,
        ),
        "assignment": None
        if assignment is None
        else (assignment.from_unit, assignment.due_days, assignment.assigned_at),
        "residence": case.residence.region,
        "new_facts": case.new_facts,
        "offset": case.received_at.utcoffset(),
    }


def base_body() -> dict[str, Any]:
    """A received event with every optional field set, as JSON-ready data."""
    case = make_case(
        case_id="XF-W-1",
        people_count=3,
        target_unit="150627:hrss",
        history={"prior_cases": 1},
        assignment={"from_unit": "150600:petition", "due_days": 15, "assigned_at": "2026-05-01T09:00:00+08:00"},
        residence={"region": "150602"},
        new_facts=True,
    )
    body: dict[str, Any] = received_envelope(case, event_id="evt-1").model_dump(mode="json")
    return body


MISSING = object()
EDGES: list[tuple[str, list[Any]]] = [
    ("time", ["2026-05-06T02:00:00", "2026-05-06 02:00:00Z", "2026-05-06t02:00:00z", "2026-02-30T00:00:00Z"]),
    ("time", ["2026-05-06T24:00:00Z", "2026-05-06T02:00:00.1234567Z", "2026-05-06T02:00:00.5+08:00", 1_700_000_000]),
    ("time", ["2026-05-06T02:00:00-00:00", "2026-05-06T02:00:00+14:00", "2026-05-06T02:00Z", "", None]),
    ("data.received_at", ["2026-05-06T10:00:00", "2026-05-06T10:00:00.000001+08:00", "2026-13-06T10:00:00Z"]),
    ("data.received_at", ["2026-05-06T10:00:00+0800", "2026-05-06T10:00:00+08", "2026-05-06T10:00:60Z", 0]),
    # msgspec rounds a seventh fractional digit, pydantic truncates it: the structs must refuse it
    ("data.received_at", ["2026-05-06T10:00:00.1234567Z", "2026-05-06T10:00:00.9999995+08:00", "2026-05-06t10:00:00z"]),
    # the window of services.common.schemas.EventTime
    ("time", ["1989-12-31T23:59:59Z", "1990-01-01T00:00:00Z", "9999-12-31T23:59:59-12:00", "2999-01-01T00:00:00Z"]),
    ("data.received_at", ["1989-12-31T23:59:59+00:00", "9999-12-31T23:59:59-12:00", "0001-01-01T00:00:00+14:00"]),
    ("data.summary", ["a\x00b", "a\x1fb", "a\tb"]),
    ("data.location.region", ["150627107\n", "１５０６２７", "١٥٠٦٢٧", "15062", "1506271071", "150627107001"]),
    ("data.received_by", ["150627:Petition", "150627:petition\n", "150627:", ":petition", "150627:pe-tition"]),
    ("data.target_unit", [None, MISSING, "150627107:gov", "150627:hrss ", 150627, "", "\x01", "\x00150627:gov"]),
    ("data.assignment.from_unit", ["", "\x01", "150600:petition\x00", "150600:"]),
    ("data.received_by", ["", "\x00", "150627:petition\x00150627"]),
    ("data.category", ["Wage", "wage_arrears\n", "_wage", "w" * 64, "w" * 65, ""]),
    ("data.people_count", [0, 1, 100_000, 100_001, "5", 5.0, True, None, -1, MISSING, 2**70]),
    ("data.history.prior_cases", [-1, 0, "1", 1.0, False, None]),
    ("data.history.concluded", [True, "true", 1, None, "yes"]),
    ("data.history", [None, {}, {"prior_cases": 2}, {"extra": 1}, MISSING]),
    ("data.assignment.due_days", [0, 1, 365, 366, "15", 15.0]),
    ("data.assignment", [None, MISSING, {}, {"from_unit": "150600:petition"}]),
    ("data.assignment.assigned_at", [None, MISSING, "2026-05-01T09:00:00", "2026-05-01T09:00:00.1234567Z", ""]),
    ("data.assignment.assigned_at", ["2026-02-30T09:00:00Z", "2026-05-01t09:00:00z", "2026-05-01T09:00:00-00:00", 0]),
    ("data.residence.region", [None, MISSING, "150627107", "１５０６２７", "15062", "150627\n", 150627, ""]),
    ("data.residence", [None, {}, {"region": "150602", "address": "x"}, MISSING, "150602"]),
    ("data.new_facts", [True, False, "true", 1, None, MISSING]),
    ("data.history.open_case_overdue", [True, False, "false", 0, None, MISSING]),
    ("data.case_id", ["", "x" * 64, "x" * 65, "案" * 64, "案" * 65, 12]),
    ("data.petitioner_key", ["short", "p" * 8, "p" * 128, "p" * 129]),
    ("data.summary", ["", "s" * 2000, "s" * 2001, "摘" * 2000, None]),
    ("data.channel", ["letter", "Letter", "fax", ""]),
    ("data.litigation", ["judged", "JUDGED", None, MISSING]),
    ("data.extra", ["not allowed"]),
    ("extra", ["not allowed"]),
    ("specversion", ["1.0", "1.1", MISSING]),
    ("schemaversion", [1, 2, "1", 1.0, MISSING, True]),
    ("datacontenttype", ["application/json", "text/plain", MISSING]),
    ("id", ["", "i" * 200, "i" * 201]),
    ("type", ["case.routed", "", "t" * 101]),
    ("caseid", ["", "c" * 100, "c" * 101]),
    ("data", [None, [], "x"]),
]


def mutated(path: str, value: Any) -> bytes:
    body = base_body()
    *parents, last = path.split(".")
    target = body
    for name in parents:
        target = target[name]
    if value is MISSING:
        target.pop(last, None)
    else:
        target[last] = value
    return json.dumps(body, ensure_ascii=False).encode()


def corpus() -> list[bytes]:
    values = [mutated(path, value) for path, choices in EDGES for value in choices]
    valid = json.dumps(base_body())
    values += [
        valid.replace('"channel": "letter"', '"channel": "letter", "channel": "visit"').encode(),  # duplicate key
        valid.encode() + b"\n",
        b" " + valid.encode(),
        valid.encode() + b"{}",
        valid[:-1].encode(),
        valid.encode("utf-16"),
        b"",
        b"null",
    ]
    return values


@pytest.mark.parametrize("value", corpus(), ids=lambda value: value.decode("utf-8", "replace")[-70:])
def test_what_the_structs_accept_pydantic_accepts_with_the_same_values(value: bytes) -> None:
    fast = wire.read_fast(value)
    try:
        model = RECEIVED.model_validate_json(value)
    except ValidationError:
        assert fast is None, "the fast path accepted what the schema refuses"
        return
    if fast is not None:
        assert projection(fast) == projection(model)
        at = to_json(datetime(2026, 5, 6, 3, 0))
        assert routed_json(fast, b"{}", at) == routed_json(model, b"{}", at)


def test_the_corpus_has_both_outcomes_on_both_paths() -> None:
    """The agreement test above is only worth something if each side accepts and refuses some inputs."""
    outcomes = set()
    for value in corpus():
        try:
            RECEIVED.model_validate_json(value)
            accepted = True
        except ValidationError:
            accepted = False
        outcomes.add((accepted, wire.read_fast(value) is not None))
    assert outcomes == {(True, True), (True, False), (False, False)}


def test_intakes_own_events_take_the_fast_path_with_the_same_facts(demo_rules: CompiledRules) -> None:
    for case in sample_cases(demo_rules, 400, seed=9):
        value = received_envelope(case).model_dump_json().encode()
        fast = wire.read_fast(value)
        assert fast is not None, value
        model = RECEIVED.model_validate_json(value)
        assert projection(fast) == projection(model)
        assert case_facts(fast.data, demo_rules) == case_facts(model.data, demo_rules)
        parsed = parse_received(value)
        assert not isinstance(parsed, Malformed) and isinstance(parsed, wire.EnvelopeView)


def test_refused_by_the_structs_still_routed_when_the_schema_accepts(demo_rules: CompiledRules) -> None:
    body = base_body()
    body["data"]["people_count"] = "5"  # pydantic's lax mode reads it; the structs do not
    parsed = parse_received(json.dumps(body).encode())
    assert isinstance(parsed, Envelope) and parsed.data.people_count == 5
