from __future__ import annotations

from datetime import date

import pytest
from intake_factories import make_credit_code, make_id_number, wrong_check

from services.intake.identity import (
    IdentifierInvalid,
    check_credit_code,
    check_email,
    check_id_number,
    find_identifiers,
    id_number_check_char,
    normalise_phone,
)

TODAY = date(2026, 6, 1)


def _with_check_x() -> str:
    for seq in range(1000):
        number = make_id_number(seq=f"{seq:03d}")
        if number.endswith("X"):
            return number
    raise AssertionError("no X check character in 1000 sequence numbers")


def test_check_char_follows_iso_7064_mod_11_2() -> None:
    # The worked example of GB 11643-1999 appendix: 11010519491231002 -> X.
    assert id_number_check_char("11010519491231002") == "X"


@pytest.mark.parametrize(
    "number",
    [
        make_id_number(),
        make_id_number("110105", date(1949, 12, 31), "002"),
        make_id_number("810000", date(2000, 2, 29), "017"),  # Hong Kong residence permit
        make_id_number("150627", TODAY, "001"),  # born today
    ],
)
def test_valid_id_numbers(number: str) -> None:
    assert check_id_number(number, today=TODAY) == number


def test_x_check_char_any_case_normalised_to_capital() -> None:
    number = _with_check_x()
    assert check_id_number(number.lower(), today=TODAY) == number
    assert check_id_number(f"  {number} ", today=TODAY) == number


@pytest.mark.parametrize(
    ("number", "code"),
    [
        (wrong_check(make_id_number()), "id_number_checksum"),
        (make_id_number()[:17] + "Y", "id_number_format"),
        (make_id_number()[:17], "id_number_format"),
        (make_id_number() + "1", "id_number_format"),
        ("15062719850312１２３4", "id_number_format"),  # full-width digits are not digits here
        ("150627850312123", "id_number_legacy"),
        ("15062719851312123X", "id_number_birth_date"),  # month 13
        ("15062719850230123" + "0", "id_number_birth_date"),  # 30 February
        (make_id_number(born=date(1850, 1, 1)), "id_number_birth_date"),
        (make_id_number(born=date(2026, 6, 2)), "id_number_future"),
        (make_id_number(region="990101"), "id_number_region"),
        (make_id_number(region="001234"), "id_number_region"),
    ],
)
def test_invalid_id_numbers(number: str, code: str) -> None:
    with pytest.raises(IdentifierInvalid) as caught:
        check_id_number(number, today=TODAY)
    assert caught.value.code == code
    assert number not in str(caught.value)


@pytest.mark.parametrize(
    ("raw", "normalised"),
    [
        ("13912345678", "13912345678"),
        ("139 1234 5678", "13912345678"),
        ("139-1234-5678", "13912345678"),
        ("+86 139 1234 5678", "13912345678"),
        ("+8613912345678", "13912345678"),
        ("008613912345678", "13912345678"),
        ("8613912345678", "13912345678"),
        ("１３９１２３４５６７８", "13912345678"),
        ("0477-8612345", "04778612345"),
        ("(0477) 86123456", "047786123456"),
        ("010-62345678", "01062345678"),
        ("+86 10 6234 5678", "01062345678"),
        ("+86 477 8612345", "04778612345"),
        ("021 6123 4567", "02161234567"),
    ],
)
def test_phone_normalisation(raw: str, normalised: str) -> None:
    assert normalise_phone(raw) == normalised


@pytest.mark.parametrize(
    "raw",
    [
        "1391234567",
        "139123456789",
        "12912345678",
        "23912345678",
        "010-0234567",
        "010-1234567",
        "0477-123456",
        "12345",
        "phone",
        "139 1234 567a",
        "+1 415 555 0100",
        "",
    ],
)
def test_invalid_phones(raw: str) -> None:
    with pytest.raises(IdentifierInvalid) as caught:
        normalise_phone(raw)
    assert caught.value.code == "phone_format"


def test_credit_codes() -> None:
    code = make_credit_code()
    assert check_credit_code(code.lower()) == code
    with pytest.raises(IdentifierInvalid, match="credit_code_checksum"):
        check_credit_code(code[:17] + ("0" if code[17] != "0" else "1"))
    with pytest.raises(IdentifierInvalid, match="credit_code_format"):
        check_credit_code("91150627MA0R1T2Y5I")  # I is not in the alphabet
    with pytest.raises(IdentifierInvalid, match="credit_code_format"):
        check_credit_code("123")


def test_emails() -> None:
    assert check_email(" a.b@example.cn ") == "a.b@example.cn"
    with pytest.raises(IdentifierInvalid, match="email_format"):
        check_email("not-an-address")


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        (f"身份证{make_id_number()}，", "id_number"),
        (f"号码{_with_check_x().lower()}结束", "id_number"),
        (f"证号 {wrong_check(make_id_number())}", "id_number"),  # a mistyped number is still personal data
        ("证号 150627 19850312 1234", "id_number"),
        ("老证号150627850312123", "id_number"),
        ("联系电话13912345678", "phone"),
        ("手机 139-1234-5678 ", "phone"),
        ("手机+86 139 1234 5678", "phone"),
        ("手机１３９１２３４５６７８", "phone"),
        ("座机0477-8612345", "phone"),
        ("座机(010)62345678", "phone"),
        ("邮箱 someone@example.com", "email"),
    ],
)
def test_find_identifiers(text: str, kind: str) -> None:
    found = find_identifiers(text)
    assert [item.kind for item in found] == [kind]


@pytest.mark.parametrize(
    "text",
    [
        "2023年5月至12月拖欠工资共计130000元，涉及12人。",
        "合同编号 HT2023-0012345，金额 1234567 元",
        "2026-05-06 至 2026-06-01 期间多次反映",
        "第 20260506 号文件",
    ],
)
def test_ordinary_numbers_are_not_identifiers(text: str) -> None:
    assert find_identifiers(text) == []
