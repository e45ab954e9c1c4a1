"""Units' API actions as lifecycle events, who may record them, and reading consumed records."""

from __future__ import annotations

from datetime import timedelta

import pytest
from engine_sim import CASE, CaseSim, ev, received, routed
from pydantic import ValidationError
from tracker_helpers import local

from services.access.scopes import Client
from services.common.envelope import to_bytes, wrap
from services.common.lifecycle import LifecycleBody
from services.tracker import actions
from services.tracker.auth import acting_unit, readable
from services.tracker.consumer import Malformed, lifecycle_envelope, parse
from services.tracker.deadlines import DeadlinePolicies
from services.tracker.records import PolicyResolver

NOW = local("2026-05-10 12:00")


@pytest.mark.parametrize(
    ("action", "body", "expected"),
    [
        ("accept", {}, {"type": "accepted"}),
        ("reject", {"reason": "不属于信访事项"}, {"type": "rejected", "reason": "不属于信访事项"}),
        (
            "extend",
            {"days": 30, "reason": "复杂", "approved_by": "150627:gov"},
            {"type": "extended", "days": 30, "approved_by": "150627:gov"},
        ),
        ("pause", {"reason": "hearing"}, {"type": "paused", "reason": "hearing"}),
        ("resume", {}, {"type": "resumed"}),
        ("reply", {"at": "2026-05-09T15:00:00+08:00"}, {"type": "replied", "at": local("2026-05-09 15:00")}),
        ("review-request", {"unit": "150600:hrss"}, {"type": "review_requested", "unit": "150600:hrss"}),
        ("review", {}, {"type": "reviewed"}),
        ("rereview-request", {}, {"type": "rereview_requested", "unit": None}),
        ("rereview", {}, {"type": "rereviewed"}),
        ("report", {"report": "urgent"}, {"type": "reported", "report": "urgent"}),
    ],
)
def test_each_action_becomes_its_lifecycle_event(
    action: str, body: dict[str, object], expected: dict[str, object]
) -> None:
    model = actions.BODY_MODELS[action].model_validate(body)
    event = actions.to_event(action, model, case_id=CASE, event_id="e-1", actor="150627:hrss via desk", now=NOW)
    assert (event.event_id, event.case_id, event.actor) == ("e-1", CASE, "150627:hrss via desk")
    assert event.at == expected.get("at", NOW)
    for name, value in expected.items():
        if name != "at":
            assert getattr(event, name) == value, name


def test_bodies_are_checked() -> None:
    with pytest.raises(ValidationError):
        actions.ExtendAction.model_validate({"days": 30, "reason": "x"})  # no approver
    with pytest.raises(ValidationError):
        actions.PauseAction.model_validate({"reason": "holiday"})
    with pytest.raises(ValidationError):
        actions.PlainAction.model_validate({"at": "2026-05-09T15:00:00"})  # no offset
    future = actions.PlainAction(at=NOW + timedelta(hours=1))
    with pytest.raises(actions.ActionTimeInvalid):
        actions.to_event("accept", future, case_id=CASE, event_id="e", actor="a", now=NOW)


def test_who_may_act_on_which_stage(policies: DeadlinePolicies) -> None:
    sim = CaseSim(PolicyResolver(policies)).run(received(), routed(), ev("accepted", "2026-05-08 09:00"))
    record = sim.record
    assert record is not None
    plain = actions.PlainAction()
    assert actions.acting_candidates("reply", record, plain) == ["150627:hrss"]
    assert actions.acting_candidates("extend", record, plain) == ["150627:hrss"]
    assert actions.acting_candidates("review", record, plain) == ["150600:hrss"]
    assert actions.acting_candidates("review-request", record, actions.RequestAction()) == [
        "150600:hrss",
        "150627:hrss",
    ]
    county = Client("hrss-desk", "reception", submit_scope=("150627:hrss",), read_scope=("150627:hrss",))
    city = Client("city", "reception", submit_scope=("150600",), read_scope=("150600",))
    reader = Client("watch", "operator", read_scope=("150000",))
    other = Client("housing", "reception", submit_scope=("150627:housing",), read_scope=("150627:housing",))
    assert acting_unit(county, ["150627:hrss"]) == "150627:hrss"
    assert acting_unit(county, ["150600:hrss"]) is None
    assert acting_unit(city, ["150627:hrss"]) == "150627:hrss"  # a region scope covers the units below
    assert acting_unit(reader, ["150627:hrss"]) is None  # operators read only
    assert readable(county, record.row) and readable(city, record.row) and readable(reader, record.row)
    assert not readable(other, record.row)


def test_records_are_parsed_by_topic() -> None:
    event = ev("accepted", "2026-05-08 09:00", event_id="evt-1")
    good = parse("case.lifecycle", to_bytes(lifecycle_envelope(event)))
    assert not isinstance(good, Malformed)
    assert (good.event_id, good.type, good.case_id) == ("evt-1", "accepted", CASE)
    assert isinstance(parse("case.lifecycle", b"{not json"), Malformed)
    wrong_type = wrap(LifecycleBody(event), type="case.routed", source="s", case_id=CASE)
    assert "type" in parse("case.lifecycle", to_bytes(wrong_type)).reason  # type: ignore[union-attr]
    other_case = wrap(LifecycleBody(event), type="case.lifecycle", source="s", case_id="OTHER")
    bad = parse("case.lifecycle", to_bytes(other_case))
    assert isinstance(bad, Malformed) and "caseid" in bad.reason and bad.case_id == "OTHER"
    body = to_bytes(lifecycle_envelope(event)).replace(b'"accepted"', b'"teleported"')
    assert isinstance(parse("case.lifecycle", body), Malformed)


@pytest.mark.parametrize(
    ("model", "body", "field", "code"),
    [
        (actions.ExtendAction, {"days": True, "reason": "r", "approved_by": "x"}, "days", "int_type"),
        (actions.ExtendAction, {"days": "5", "reason": "r", "approved_by": "x"}, "days", "int_type"),
        (actions.ExtendAction, {"days": 5.0, "reason": "r", "approved_by": "x"}, "days", "int_type"),
        (actions.ExtendAction, {"days": 5, "reason": "r\u0000", "approved_by": "x"}, "reason", "control_character"),
        (actions.RejectAction, {"reason": "\u001b[31m"}, "reason", "control_character"),
        (actions.PauseAction, {"reason": "other", "note": "a\u0007"}, "note", "control_character"),
        (actions.PlainAction, {"at": 0}, "at", "datetime_type"),
    ],
)
def test_action_bodies_are_strict(model: type[actions.Action], body: dict[str, object], field: str, code: str) -> None:
    with pytest.raises(ValidationError) as refused:
        model.model_validate(body)
    [error] = refused.value.errors()
    assert (error["loc"][0], error["type"]) == (field, code)
