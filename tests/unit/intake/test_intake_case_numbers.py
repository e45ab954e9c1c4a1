from __future__ import annotations

import random
from datetime import UTC, date, datetime

import pytest

from services.intake.case_numbers import (
    CaseNumber,
    case_number_for,
    case_number_sort_key,
    format_case_number,
    parse_case_number,
)


def test_format_and_parse() -> None:
    number = format_case_number("150627", date(2026, 11, 21), 123)
    assert number == "XF150627-20261121-000123"
    assert parse_case_number(number) == CaseNumber("150627", date(2026, 11, 21), 123)
    big = format_case_number("000000", date(2030, 1, 2), 12_345_678)
    assert big == "XF000000-20300102-12345678"
    assert parse_case_number(big).seq == 12_345_678


@pytest.mark.parametrize(
    ("region", "seq"),
    [("15062", 1), ("150627107", 1), ("15062a", 1), ("150627", 0), ("150627", -5), ("150627", 10**15)],
)
def test_format_refuses_bad_parts(region: str, seq: int) -> None:
    with pytest.raises(ValueError):
        format_case_number(region, date(2026, 1, 1), seq)


@pytest.mark.parametrize(
    "value",
    [
        "",
        "XF150627-20261121-00123",  # 5 digits
        "XF150627-20261121-0000123",  # zero-padded beyond the canonical width
        "XF150627-20261121-000000",
        "XF150627-20260230-000123",  # no 30 February
        "xf150627-20261121-000123",
        "XF150627-2026-11-21-000123",
        "XF150627-20261121-000123 ",
        "XF1506271-20261121-000123",
    ],
)
def test_parse_refuses_non_canonical(value: str) -> None:
    with pytest.raises(ValueError):
        parse_case_number(value)


def test_local_date_is_shanghai() -> None:
    # 2026-11-20 17:30 UTC is already 21 November in Beijing.
    received = datetime(2026, 11, 20, 17, 30, tzinfo=UTC)
    assert case_number_for("150627107:gov", received, 7) == "XF150627-20261121-000007"
    assert case_number_for("000000:petition", received, 7, timezone="UTC") == "XF000000-20261120-000007"
    with pytest.raises(ValueError):
        case_number_for("150627:petition", datetime(2026, 11, 20, 17, 30), 7)


def test_string_order_is_region_date_sequence_order() -> None:
    rng = random.Random(7)
    parts = [
        (rng.choice(["150600", "150627", "150602"]), date(2026, rng.randint(1, 12), rng.randint(1, 28)), seq)
        for seq in rng.sample(range(1, 999_999), 200)
    ]
    numbers = [format_case_number(*part) for part in parts]
    assert sorted(numbers) == [format_case_number(*part) for part in sorted(parts)]
    assert sorted(numbers, key=case_number_sort_key) == sorted(numbers)


def test_sort_key_is_exact_when_the_sequence_gains_a_digit() -> None:
    day = date(2026, 11, 21)
    numbers = [format_case_number("150627", day, seq) for seq in (1_000_000, 999_999)]
    assert [parse_case_number(n).seq for n in sorted(numbers, key=case_number_sort_key)] == [999_999, 1_000_000]
