"""The campaign's hostile records are what its report says they are: one of each poison kind per input
topic, each wrong in exactly its own way, and forgeries aimed at the case and sender the table names."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from services.common import bounded
from services.faults import forgeries, poison
from services.faults.campaign import SHORT, schedule

RECORDS = {p.name: p for p in poison.poison_records("run1", "faults/upstream")}


def test_every_kind_on_every_input_topic_once() -> None:
    assert len(RECORDS) == len(poison.INPUT_TOPICS) * len(poison.KINDS)
    assert {p.topic for p in RECORDS.values()} == set(poison.INPUT_TOPICS)
    assert all(p.case_id.startswith(poison.PREFIX) for p in RECORDS.values())


@pytest.mark.parametrize("topic", poison.INPUT_TOPICS)
def test_each_poison_is_wrong_in_its_own_way(topic: str) -> None:
    def value(kind: str) -> bytes:
        return RECORDS[f"{topic}/{kind}"].record.value

    assert value("deep") == poison.DEEP
    assert poison.DEEP in value("deep_field") and value("deep_field").startswith(b"{")
    assert b"9" * poison.DIGITS in value("big_number")
    assert len(value("oversize")) > poison.OVERSIZE_BYTES
    with pytest.raises(UnicodeDecodeError):
        value("not_utf8").decode()
    refusals = {
        "deep": "too_deep",
        "deep_field": "too_deep",
        "nul": "control_character",
        "big_number": "number_out_of_range",
        "not_utf8": "not_utf8",
        "oversize": "too_large",
    }
    for kind, code in refusals.items():
        with pytest.raises(bounded.Refused) as refused:
            bounded.load_json(value(kind), bounded.Limits(max_bytes=poison.OVERSIZE_BYTES))
        assert refused.value.code == code, kind
    # The last two are well-formed JSON: only a schema or a time window can refuse them.
    assert poison.FAR_TIME in value("far_time").decode()
    text_field, number_field, _ = poison.FIELDS[topic]
    wrong = json.loads(value("wrong_types"))
    assert _at(wrong, number_field) == "many" and isinstance(_at(wrong, text_field), list)
    # Apart from what is wrong, the record is its topic's event for its own poison case.
    good = json.loads(value("far_time"))
    assert good["data"].get("case_id", RECORDS[f"{topic}/far_time"].case_id).startswith(poison.PREFIX)


def _at(value: Any, path: str) -> Any:
    for name in path.split("."):
        value = value[int(name)] if isinstance(value, list) else value[name]
    return value


def test_forgeries_aim_at_the_case_and_say_who_sent_them() -> None:
    target = forgeries.Target("XF150627-20261201-000001", "150627:hrss", datetime.now(UTC), "visit", 1,
                              "wage_arrears", "150627107")  # fmt: skip
    now = datetime.now(UTC)
    made = {k.name: forgeries.forge(k, target, now, "faults/upstream") for k in forgeries.KINDS}
    withdrawn = json.loads(made["withdrawn_no_credentials"].record.value)
    assert withdrawn["data"]["type"] == "withdrawn" and withdrawn["data"]["actor"] == "intruder"
    assert withdrawn["caseid"] == target.case_id
    assert made["withdrawn_no_credentials"].record.key == target.case_id.encode()
    elsewhere = json.loads(made["rejected_unscoped_partner"].record.value)["data"]
    assert elsewhere["type"] == "rejected" and not elsewhere["actor"].startswith("1506")
    routed = json.loads(made["second_routed"].record.value)
    assert routed["id"] == made["second_routed"].event_id
    assert routed["data"]["decision"]["handling_unit"] != target.handling_unit
    unknown = json.loads(made["submitted_unknown_source"].record.value)
    assert unknown["source"] == "intruder/anything" and made["submitted_unknown_source"].case_id is None
    assert {k.sender for k in forgeries.KINDS} == {"nobody", "unit", "unscoped_unit", "upstream"}


def test_the_schedule_poisons_first_and_forges_once() -> None:
    actions = schedule(SHORT)
    assert actions[0] == ("poison", "0")
    assert actions.count(("forge", "all")) == 1
    assert sorted(a for a in actions if a[0] == "kill") == [("kill", "intake"), ("kill", "router"), ("kill", "tracker")]
    assert ("restart", "kafka") in actions and ("restart", "postgres") in actions
