from __future__ import annotations

import json
import re
import shutil
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from intake_factories import ID_NUMBER, NAME, PHONE, make_credit_code, make_id_number, person, submission, wrong_check

from services.common.field_errors import FieldError, SubmissionInvalid, field_errors_from_pydantic
from services.common.schemas import CHANNELS
from services.common.settings import PROJECT_ROOT
from services.intake import checks
from services.intake.submission import Anonymous, Organisation, Person, Submission
from services.intake.validation import ANONYMOUS_CHANNELS, validate_submission

_BAD_CREDIT = make_credit_code()[:17] + ("0" if not make_credit_code().endswith("0") else "1")
_CJK = re.compile(r"[\u4e00-\u9fff]")


def _for_channel(channel: str, **overrides: Any) -> dict[str, Any]:
    extra: dict[str, Any] = {"channel": channel}
    if channel == "assignment":
        extra["assignment"] = {"from_unit": "150600:petition", "due_days": 30}
    elif channel == "referral":
        extra["assignment"] = {"from_unit": "150600:petition"}
    return submission(**extra, **overrides)


def _errors(data: Any, now: datetime, **kwargs: Any) -> list[FieldError]:
    with pytest.raises(SubmissionInvalid) as caught:
        validate_submission(data, now=now, **kwargs)
    for error in caught.value.errors:
        assert error.message_en and error.message_en.isascii(), error
        assert _CJK.search(error.message_zh), error
    return caught.value.errors


def _only(data: Any, now: datetime, **kwargs: Any) -> FieldError:
    errors = _errors(data, now, **kwargs)
    assert len(errors) == 1, errors
    return errors[0]


@pytest.mark.parametrize("channel", CHANNELS)
def test_valid_case_on_every_channel(channel: str, now: datetime) -> None:
    result = validate_submission(_for_channel(channel), now=now)
    assert result.channel == channel
    assert isinstance(result.petitioner, Person)
    assert result.petitioner.id_number == ID_NUMBER
    assert (result.assignment is not None) == (channel in ("referral", "assignment"))


@pytest.mark.parametrize("channel", sorted(ANONYMOUS_CHANNELS))
def test_anonymous_accepted_except_for_visits(channel: str, now: datetime) -> None:
    result = validate_submission(_for_channel(channel, petitioner={"kind": "anonymous"}), now=now)
    assert isinstance(result.petitioner, Anonymous)


def test_anonymous_visit_refused(now: datetime) -> None:
    error = _only(submission(channel="visit", petitioner={"kind": "anonymous"}), now)
    assert (error.field, error.code) == ("petitioner", "anonymous_not_allowed")
    assert "来访" in error.message_zh


def test_organisation_petitioner(now: datetime) -> None:
    body = submission(
        petitioner={
            "kind": "organisation",
            "organisation_name": "某某建材有限公司",
            "credit_code": make_credit_code().lower(),
            "name": "联系人乙",
            "phone": "0477 8612345",
        }
    )
    result = validate_submission(body, now=now)
    assert isinstance(result.petitioner, Organisation)
    assert result.petitioner.credit_code == make_credit_code()
    assert result.petitioner.phone == "04778612345"


def test_minimal_body_gets_defaults(now: datetime) -> None:
    body = {
        "channel": "letter",
        "received_by": "150627:petition",
        "category": "housing",
        "location": {"region": "150627"},
        "petitioner": {"kind": "person", "name": NAME, "phone": "+86 139-1234-5678"},
        "summary": "小区物业长期不维修电梯。",
        "content": "详细情况见来信。",
    }
    result = validate_submission(body, now=now)
    assert result.people_count == 1
    assert result.litigation == "none"
    assert result.target_unit is None
    assert result.received_at.tzinfo is not None
    assert isinstance(result.petitioner, Person) and result.petitioner.phone == PHONE


def test_raw_json_accepted(now: datetime) -> None:
    raw = json.dumps(submission(), ensure_ascii=False).encode()
    assert validate_submission(raw, now=now).category == "wage_arrears"


@pytest.mark.parametrize("raw", [b"{not json", b"\xff\xfe", "[1, 2]"])
def test_bad_json(raw: bytes | str, now: datetime) -> None:
    error = _only(raw, now)
    assert error.field == ""
    assert error.code in {"json_invalid", "json_type", "not_utf8"}


@pytest.mark.parametrize(
    ("overrides", "field", "code"),
    [
        ({"channel": "fax"}, "channel", "literal_error"),
        ({"category": "ufo_sightings"}, "category", "category_unknown"),
        ({"category": "Wage-Arrears"}, "category", "string_pattern_mismatch"),
        ({"location": {"region": "159999"}}, "location.region", "region_unknown"),
        ({"location": {"region": "15062"}}, "location.region", "string_pattern_mismatch"),
        ({"location": {"region": "150627999"}}, "location.region", "region_unknown"),
        ({"location": {"region": "150627107000"}}, "location.region", "region_unknown"),
        ({"location": {"region": "150627999201"}}, "location.region", "region_unknown"),
        ({"location": {}}, "location.region", "missing"),
        ({"location": {"region": "150627", "address": ""}}, "location.address", "string_too_short"),
        ({"people_count": 0}, "people_count", "greater_than_equal"),
        ({"people_count": 100_001}, "people_count", "less_than_equal"),
        ({"people_count": "many"}, "people_count", "int_type"),
        ({"received_by": "150627"}, "received_by", "string_pattern_mismatch"),
        ({"received_by": "159999:petition"}, "received_by", "unit_region_unknown"),
        ({"target_unit": "150627999:gov"}, "target_unit", "unit_region_unknown"),
        ({"target_unit": "150627:HRSS"}, "target_unit", "string_pattern_mismatch"),
        ({"litigation": "maybe"}, "litigation", "literal_error"),
        ({"summary": "   "}, "summary", "string_too_short"),
        ({"summary": "长" * 2001}, "summary", "string_too_long"),
        ({"content": ""}, "content", "string_too_short"),
        ({"content": "长" * 50_001}, "content", "string_too_long"),
        ({"received_at": "2026-05-06T09:30:00"}, "received_at", "timezone_aware"),
        ({"received_at": "yesterday"}, "received_at", "datetime_from_date_parsing"),
        ({"received_at": "2026-06-01T12:10:00+08:00"}, "received_at", "received_at_future"),
        ({"external_ref": "x" * 129}, "external_ref", "string_too_long"),
        ({"petitioner_name": NAME}, "petitioner_name", "extra_forbidden"),
        ({"petitioner": {"kind": "robot"}}, "petitioner", "union_tag_invalid"),
        ({"petitioner": {"name": NAME}}, "petitioner", "union_tag_not_found"),
        ({"petitioner": "someone"}, "petitioner", "model_attributes_type"),
        ({"petitioner": person(name=None)}, "petitioner.name", "string_type"),
        ({"petitioner": person(id_number=wrong_check(ID_NUMBER))}, "petitioner.id_number", "id_number_checksum"),
        (
            {"petitioner": person(id_number="15062719850230123" + "0")},
            "petitioner.id_number",
            "id_number_birth_date",
        ),
        (
            {"petitioner": person(id_number=make_id_number(born=date(2026, 7, 1)))},
            "petitioner.id_number",
            "id_number_future",
        ),
        ({"petitioner": person(id_number="150627850312123")}, "petitioner.id_number", "id_number_legacy"),
        ({"petitioner": person(phone="1234567")}, "petitioner.phone", "phone_format"),
        ({"petitioner": person(email="nobody")}, "petitioner.email", "email_format"),
        ({"petitioner": person(credit_code=make_credit_code())}, "petitioner.credit_code", "extra_forbidden"),
        (
            {"petitioner": {"kind": "organisation", "organisation_name": "某公司", "credit_code": _BAD_CREDIT}},
            "petitioner.credit_code",
            "credit_code_checksum",
        ),
        (
            {"petitioner": {"kind": "organisation", "organisation_name": "某公司", "credit_code": "915O"}},
            "petitioner.credit_code",
            "credit_code_format",
        ),
        ({"petitioner": {"kind": "organisation"}}, "petitioner.organisation_name", "missing"),
        ({"petitioner": {"kind": "anonymous", "name": NAME}}, "petitioner.name", "extra_forbidden"),
    ],
)
def test_bad_field(overrides: dict[str, Any], field: str, code: str, now: datetime) -> None:
    error = _only(submission(**overrides), now)
    assert (error.field, error.code) == (field, code)


@pytest.mark.parametrize(
    ("channel", "handover", "field", "code"),
    [
        ("assignment", None, "assignment", "assignment_required"),
        ("referral", None, "assignment", "assignment_required"),
        ("assignment", {"from_unit": "150600:petition"}, "assignment.due_days", "due_days_required"),
        ("referral", {"from_unit": "150600:petition", "due_days": 30}, "assignment.due_days", "due_days_not_allowed"),
        ("online", {"from_unit": "150600:petition", "due_days": 30}, "assignment", "assignment_not_allowed"),
        ("assignment", {"from_unit": "150600:petition", "due_days": 0}, "assignment.due_days", "greater_than_equal"),
        ("assignment", {"from_unit": "999999:petition", "due_days": 30}, "assignment.from_unit", "unit_region_unknown"),
        ("assignment", {"due_days": 30}, "assignment.from_unit", "missing"),
    ],
)
def test_assignment_rules(channel: str, handover: dict[str, Any] | None, field: str, code: str, now: datetime) -> None:
    error = _only(submission(channel=channel, assignment=handover), now)
    assert (error.field, error.code) == (field, code)


@pytest.mark.parametrize(
    "summary",
    [
        f"信访人身份证号{ID_NUMBER}，反映拖欠工资。",
        f"身份证 {ID_NUMBER[:6]} {ID_NUMBER[6:14]} {ID_NUMBER[14:]}",
        f"证号{wrong_check(make_id_number(seq='555'))}",
        "请回电 13812345678。",
        "请回电１３８１２３４５６７８",
        "联系 +86 138-1234-5678",
        "座机 0477-8612345",
        "回复至 someone@example.org",
    ],
)
def test_summary_with_identity_or_phone_refused(summary: str, now: datetime) -> None:
    error = _only(submission(summary=summary), now)
    assert (error.field, error.code) == ("summary", "summary_personal_data")
    assert "摘要" in error.message_zh
    assert summary not in error.message_en + error.message_zh


@pytest.mark.parametrize(
    ("summary", "what"),
    [
        (f"{NAME}反映工地拖欠工资。", "name"),
        ("家住伊金霍洛旗阿勒腾席热镇某小区3号楼2单元101室，反映漏水。", "address"),
        ("电话139.1234.5678", "phone"),
    ],
)
def test_summary_with_petitioners_own_data_refused(summary: str, what: str, now: datetime) -> None:
    error = _only(submission(summary=summary), now)
    assert (error.field, error.code) == ("summary", "summary_personal_data")
    assert what in error.message_en


def test_all_errors_collected_not_just_the_first(now: datetime) -> None:
    body = submission(
        channel="visit",
        category="nope",
        location={"region": "159999"},
        petitioner={"kind": "anonymous"},
        people_count=0,
        assignment={"from_unit": "150600:petition", "due_days": 10},
        summary=f"电话{PHONE}",
    )
    errors = _errors(body, now)
    assert {(error.field, error.code) for error in errors} == {
        ("category", "category_unknown"),
        ("location.region", "region_unknown"),
        ("people_count", "greater_than_equal"),
        ("summary", "summary_personal_data"),
        ("petitioner", "anonymous_not_allowed"),
        ("assignment", "assignment_not_allowed"),
    }


def test_cross_field_rules_skip_fields_that_already_failed(now: datetime) -> None:
    errors = _errors(submission(channel="assignment", assignment={"from_unit": "x"}), now)
    assert [(error.field, error.code) for error in errors] == [("assignment.from_unit", "string_pattern_mismatch")]


def test_error_messages_never_repeat_personal_values(now: datetime) -> None:
    bad_id = wrong_check(ID_NUMBER)
    errors = _errors(submission(petitioner=person(id_number=bad_id, phone="1391234567x")), now)
    assert {error.field for error in errors} == {"petitioner.id_number", "petitioner.phone"}
    text = json.dumps([error.to_dict() for error in errors], ensure_ascii=False)
    assert bad_id not in text
    assert "1391234567" not in text
    assert str(SubmissionInvalid(errors)).count("petitioner.") == 2


def test_extra_categories_from_rule_files(now: datetime) -> None:
    body = submission(category="grassland_grazing")
    assert _only(body, now).code == "category_unknown"
    result = validate_submission(body, now=now, extra_categories={"grassland_grazing"})
    assert result.category == "grassland_grazing"


def test_the_deployments_categories_file_is_what_the_service_accepts(now: datetime, tmp_path: Path) -> None:
    """The running service passes no extra categories: it reads rules/categories.yaml at start."""
    rules = tmp_path / "rules"
    shutil.copytree(PROJECT_ROOT / "rules", rules)
    listing = rules / "categories.yaml"
    listing.write_text(listing.read_text() + "  grassland_grazing: 草原放牧\n", encoding="utf-8")
    body = submission(category="grassland_grazing")
    assert _only(body, now).code == "category_unknown"
    try:
        checks.use_rules(*checks.deployment_rules(rules))
        assert validate_submission(body, now=now).category == "grassland_grazing"
    finally:
        checks.use_rules((), None)
    assert _only(body, now).code == "category_unknown"


def test_village_codes_accepted_under_known_towns(now: datetime) -> None:
    result = validate_submission(
        submission(location={"region": "150627107201"}, received_by="150627107201:committee"), now=now
    )
    assert result.location.region == "150627107201"


@pytest.mark.parametrize("region", ["000000", "150000", "150600", "150627", "150627107", "441900003"])
def test_regions_at_every_level(region: str, now: datetime) -> None:
    assert validate_submission(submission(location={"region": region}), now=now).location.region == region


def test_received_at_within_clock_skew(now: datetime) -> None:
    body = submission(received_at=(now + timedelta(minutes=4)).isoformat())
    assert validate_submission(body, now=now).received_at == now + timedelta(minutes=4)


def test_strings_are_stripped(now: datetime) -> None:
    result = validate_submission(submission(summary="  某工地拖欠工资。 \n", category="wage_arrears"), now=now)
    assert result.summary == "某工地拖欠工资。"


def test_fastapi_style_errors_convert_with_prefix() -> None:
    errors = field_errors_from_pydantic(
        [
            {"type": "missing", "loc": ("body", "petitioner", "person", "name"), "msg": "Field required"},
            {"type": "something_new", "loc": ("body", "x"), "msg": "Odd value"},
        ],
        strip_prefix=("body",),
    )
    assert [(error.field, error.code) for error in errors] == [("petitioner.name", "missing"), ("x", "something_new")]
    assert errors[1].message_en == "Odd value" and errors[1].message_zh


def test_model_alone_still_runs_field_checks() -> None:
    with pytest.raises(ValueError, match="id_number_checksum"):
        Submission.model_validate(submission(petitioner=person(id_number=wrong_check(ID_NUMBER))))
