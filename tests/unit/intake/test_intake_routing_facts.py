"""The routing facts intake takes for issue 11 (DOMAIN.md §4.3): `residence.region` (人户分离, a county
code of the region table, never an address), `new_facts` (a strict boolean) and `assignment.assigned_at`,
on every channel (HTTP and `case.submitted` share the Submission model), carried into `case.received`."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
from intake_factories import submission

from services.common.field_errors import SubmissionInvalid
from services.common.schemas import CHANNELS, History
from services.intake.matter import to_received_case
from services.intake.validation import validate_submission

KEY = "p1_" + "0" * 64


def _for_channel(channel: str, **overrides: Any) -> dict[str, Any]:
    extra: dict[str, Any] = {"channel": channel}
    if channel == "assignment":
        extra["assignment"] = {"from_unit": "150600:petition", "due_days": 30}
    elif channel == "referral":
        extra["assignment"] = {"from_unit": "150600:petition"}
    return submission(**extra, **overrides)


@pytest.mark.parametrize("channel", CHANNELS)
def test_residence_and_new_facts_reach_the_router_on_every_channel(channel: str, now: datetime) -> None:
    accepted = validate_submission(_for_channel(channel, residence={"region": "150602"}, new_facts=True), now=now)
    received = to_received_case(accepted, case_id="c1", petitioner_key=KEY, history=History())
    assert received.residence.region == "150602"
    assert received.new_facts is True


def test_without_them_the_defaults(now: datetime) -> None:
    received = to_received_case(
        validate_submission(submission(), now=now), case_id="c1", petitioner_key=KEY, history=History()
    )
    assert received.residence.region is None and received.new_facts is False
    assert received.history.open_case_overdue is False


def test_assigned_at_is_carried_for_an_assignment(now: datetime) -> None:
    handover = {"from_unit": "150600:petition", "due_days": 30, "assigned_at": "2026-05-30T09:00:00+08:00"}
    accepted = validate_submission(submission(channel="assignment", assignment=handover), now=now)
    received = to_received_case(accepted, case_id="c1", petitioner_key=KEY, history=History())
    assert received.assignment is not None
    assert received.assignment.assigned_at == datetime.fromisoformat("2026-05-30T09:00:00+08:00")


@pytest.mark.parametrize(
    ("overrides", "field", "code"),
    [
        ({"residence": {"region": "150600"}}, "residence.region", "residence_not_county"),  # a city
        ({"residence": {"region": "150000"}}, "residence.region", "residence_not_county"),  # a province
        ({"residence": {"region": "999999"}}, "residence.region", "residence_not_county"),  # not in the table
        ({"residence": {"region": "150627107"}}, "residence.region", "string_pattern_mismatch"),  # a town
        ({"residence": {"region": "15O627"}}, "residence.region", "string_pattern_mismatch"),
        ({"residence": {"region": 150627}}, "residence.region", "string_type"),
        ({"residence": {"region": "150627", "address": "某街1号"}}, "residence.address", "extra_forbidden"),
        ({"residence": "150627"}, "residence", "model_type"),
        ({"new_facts": "true"}, "new_facts", "bool_type"),
        ({"new_facts": 1}, "new_facts", "bool_type"),
        (
            {
                "channel": "assignment",
                "assignment": {"from_unit": "150600:petition", "due_days": 5, "assigned_at": "2026-05-30"},
            },
            "assignment.assigned_at",
            "timezone_aware",
        ),
        (
            {
                "channel": "assignment",
                "assignment": {
                    "from_unit": "150600:petition",
                    "due_days": 5,
                    "assigned_at": "2026-06-09T09:00:00+08:00",
                },
            },
            "assignment.assigned_at",
            "assigned_at_future",
        ),
    ],
)
def test_refused_naming_the_field(overrides: dict[str, Any], field: str, code: str, now: datetime) -> None:
    with pytest.raises(SubmissionInvalid) as caught:
        validate_submission(submission(**overrides), now=now)
    assert [(error.field, error.code) for error in caught.value.errors] == [(field, code)]
