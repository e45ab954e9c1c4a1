"""Case numbers people can read out and sort: `XF150627-20261121-000123`.

- `XF`, then the 6-digit region of the receiving unit (its county or higher region: the first
  6 digits of the unit's region code, `000000` for national units);
- the local date of receipt (Asia/Shanghai unless the deployment says otherwise), `YYYYMMDD`;
- a number from one PostgreSQL sequence shared by every intake instance: the only source of
  uniqueness (region and date just make the number readable), zero-padded to 6 digits.

The sequence never restarts, so after 999,999 cases the number takes a 7th digit. Strings sort in
(region, date, number) order except within the one day the sequence gains a digit; sort on
`case_number_sort_key` (or the stored sequence value) where exact order matters.
Formatting is canonical: `parse_case_number` refuses anything `format_case_number` would not emit.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import NamedTuple
from zoneinfo import ZoneInfo

PREFIX = "XF"
SEQ_WIDTH = 6
MAX_SEQ = 10**15 - 1
DEFAULT_TIMEZONE = "Asia/Shanghai"
_PATTERN = re.compile(r"^XF(\d{6})-(\d{8})-(\d{6,15})$")


class CaseNumber(NamedTuple):
    region: str
    local_date: date
    seq: int


def format_case_number(region: str, local_date: date, seq: int) -> str:
    if not (len(region) == 6 and region.isascii() and region.isdigit()):
        raise ValueError("the region of a case number has exactly 6 digits")
    if not 1 <= seq <= MAX_SEQ:
        raise ValueError(f"the sequence number must be between 1 and {MAX_SEQ}")
    return f"{PREFIX}{region}-{local_date:%Y%m%d}-{seq:0{SEQ_WIDTH}d}"


def parse_case_number(value: str) -> CaseNumber:
    match = _PATTERN.match(value)
    if match is None:
        raise ValueError(f"not a case number: {value!r}")
    region, day, digits = match.groups()
    seq = int(digits)
    try:
        local_date = datetime.strptime(day, "%Y%m%d").date()
    except ValueError:
        raise ValueError(f"not a case number (bad date): {value!r}") from None
    if seq < 1 or format_case_number(region, local_date, seq) != value:
        raise ValueError(f"not a canonical case number: {value!r}")
    return CaseNumber(region, local_date, seq)


def case_number_for(received_by: str, received_at: datetime, seq: int, *, timezone: str = DEFAULT_TIMEZONE) -> str:
    """The number of a case registered by unit `received_by` (`<region>:<department>`) at `received_at`."""
    if received_at.tzinfo is None:
        raise ValueError("received_at needs a UTC offset")
    region = received_by.split(":", 1)[0][:6]
    return format_case_number(region, received_at.astimezone(ZoneInfo(timezone)).date(), seq)


def case_number_sort_key(value: str) -> CaseNumber:
    return parse_case_number(value)
