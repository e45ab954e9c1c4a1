from __future__ import annotations

import json
from datetime import datetime

import pytest
from intake_factories import ADDRESS, ID_NUMBER, NAME, PHONE, make_credit_code, person, submission

from services.common.field_errors import SubmissionInvalid
from services.common.schemas import History, ReceivedCase
from services.intake.matter import matter_key, matter_key_of, to_received_case
from services.intake.privacy import petitioner_key
from services.intake.submission import Submission
from services.intake.validation import validate_submission

KEY = b"test-pseudonym-key-0123456789abcdef"


def test_matter_key_is_stable_and_county_level() -> None:
    base = matter_key("p1_abc", "wage_arrears", "150627107", None)
    assert base.startswith("m1_")
    assert base == matter_key("p1_abc", "wage_arrears", "150627", None)
    assert base == matter_key("p1_abc", "wage_arrears", "150627107201", None)
    assert base != matter_key("p1_abc", "wage_arrears", "150602", None)
    assert base != matter_key("p1_abd", "wage_arrears", "150627", None)
    assert base != matter_key("p1_abc", "housing", "150627", None)
    assert base != matter_key("p1_abc", "wage_arrears", "150627", "150627:hrss")
    assert matter_key("p1_abc", "wage_arrears", "150600", None) != matter_key("p1_abc", "wage_arrears", "150627", None)


def test_matter_key_of_submission(now: datetime) -> None:
    accepted = validate_submission(submission(), now=now)
    key = petitioner_key(KEY, accepted.petitioner)
    again = validate_submission(submission(location={"region": "150627"}, summary="再次反映工资问题。"), now=now)
    assert matter_key_of(accepted, key) == matter_key_of(again, petitioner_key(KEY, again.petitioner))


def _personal_values() -> list[str]:
    return [
        ID_NUMBER,
        PHONE,
        NAME,
        ADDRESS,
        "ceshi@example.cn",
        "札萨克镇某工地",
        "某某建材有限公司",
        make_credit_code(),
        "联系人乙",
        "04778612345",
    ]


@pytest.mark.parametrize(
    "petitioner",
    [
        person(),
        {
            "kind": "organisation",
            "organisation_name": "某某建材有限公司",
            "credit_code": make_credit_code(),
            "name": "联系人乙",
            "phone": "0477-8612345",
            "address": ADDRESS,
        },
    ],
)
def test_received_case_carries_no_personal_data(petitioner: dict[str, str], now: datetime) -> None:
    accepted = validate_submission(
        submission(
            channel="assignment",
            petitioner=petitioner,
            assignment={"from_unit": "150600:petition", "due_days": 20},
            target_unit="150627:hrss",
            people_count=6,
            litigation="pending",
        ),
        now=now,
    )
    key = petitioner_key(KEY, accepted.petitioner)
    history = History(prior_cases=2, open_case_id=None, concluded=False)
    received = to_received_case(accepted, case_id="XF150627-20260506-000001", petitioner_key=key, history=history)
    assert isinstance(received, ReceivedCase)
    text = received.model_dump_json()
    for value in _personal_values():
        assert value not in text, value
    assert json.loads(text) == {
        "case_id": "XF150627-20260506-000001",
        "received_at": "2026-05-06T09:30:00+08:00",
        "channel": "assignment",
        "received_by": "150627:petition",
        "category": "wage_arrears",
        "location": {"region": "150627107"},
        "petitioner_key": key,
        "people_count": 6,
        "target_unit": "150627:hrss",
        "litigation": "pending",
        "history": {"prior_cases": 2, "open_case_id": None, "concluded": False, "open_case_overdue": False},
        "assignment": {"from_unit": "150600:petition", "due_days": 20, "assigned_at": None},
        "residence": {"region": None},
        "new_facts": False,
        "summary": accepted.summary,
    }


def test_referral_keeps_its_referrer_in_intake(now: datetime) -> None:
    accepted = validate_submission(submission(channel="referral", assignment={"from_unit": "150600:petition"}), now=now)
    received = to_received_case(accepted, case_id="c1", petitioner_key="p1_" + "0" * 64, history=History())
    assert received.channel == "referral" and received.assignment is None


def test_summary_with_personal_data_never_leaves(now: datetime) -> None:
    accepted = validate_submission(submission(), now=now)
    smuggled = Submission.model_construct(**{**dict(accepted), "summary": f"电话{PHONE}"})
    with pytest.raises(SubmissionInvalid):
        to_received_case(smuggled, case_id="c1", petitioner_key="p1_" + "0" * 64, history=History())
