"""Synthetic test data: identity numbers and credit codes are computed here, never real ones."""

from __future__ import annotations

from datetime import date
from typing import Any

from services.intake.identity import credit_code_check_char, id_number_check_char


def make_id_number(region: str = "150627", born: date = date(1985, 3, 12), seq: str = "123") -> str:
    first17 = f"{region}{born:%Y%m%d}{seq}"
    return first17 + id_number_check_char(first17)


def make_credit_code(body: str = "91150627MA0R1T2Y5") -> str:
    return body + credit_code_check_char(body)


def wrong_check(number: str) -> str:
    """The same number with a different (wrong) last character."""
    alternatives = [char for char in "0123456789X" if char != number[-1]]
    return number[:-1] + alternatives[0]


ID_NUMBER = make_id_number()
PHONE = "13912345678"
NAME = "测试甲"
ADDRESS = "伊金霍洛旗阿勒腾席热镇某小区3号楼2单元101室"


def person(**overrides: Any) -> dict[str, Any]:
    return {
        "kind": "person",
        "name": NAME,
        "id_number": ID_NUMBER,
        "phone": PHONE,
        "address": ADDRESS,
        "email": "ceshi@example.cn",
        **overrides,
    }


def submission(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "channel": "online",
        "received_by": "150627:petition",
        "category": "wage_arrears",
        "location": {"region": "150627107", "address": "札萨克镇某工地"},
        "petitioner": person(),
        "people_count": 1,
        "target_unit": None,
        "litigation": "none",
        "summary": "某建筑工地拖欠农民工工资约三个月，多次讨要未果。",
        "content": f"本人{NAME}，身份证号{ID_NUMBER}，电话{PHONE}，在札萨克镇某工地务工，被拖欠工资。",
        "received_at": "2026-05-06T09:30:00+08:00",
        "external_ref": "upstream-0001",
    }
    body.update(overrides)
    return body
