"""Identity numbers, credit codes and phone numbers: checks, normalisation, and finding them in text.

- Resident identity number (居民身份号码, GB 11643-1999): 6-digit region code of first issue, 8-digit
  birth date, 3-digit sequence, ISO 7064 MOD 11-2 check character (0-9 or X). Only the province part
  of the region code is checked: the 6 digits are the county *at first issue* and many of those codes
  have since been abolished, so the current division table cannot judge them. Province 71 (Taiwan)
  and 81/82/83 (residence permits of Hong Kong, Macao and Taiwan residents) are accepted too.
  15-digit first-generation numbers stopped being valid in 2013 and are refused.
- Unified social credit code (统一社会信用代码, GB 32100-2015): 18 characters, MOD 31 check character.
- Phone: mainland mobile (11 digits, 13x-19x) or landline (area code with its 0, then the subscriber
  number), normalised to digits only; a +86 / 0086 / 86 prefix is removed. Extensions are not kept.

`find_identifiers` scans free text for anything that looks like an identity number, phone number or
e-mail address (the summary check and log redaction use it). It errs on the side of finding: an
identity number with a wrong check digit is still someone's identity number.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date
from typing import Literal

IdentifierKind = Literal["id_number", "phone", "email"]

_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"
_ID_PROVINCES = frozenset(
    "11 12 13 14 15 21 22 23 31 32 33 34 35 36 37 41 42 43 44 45 46 "  # noqa: SIM905
    "50 51 52 53 54 61 62 63 64 65 71 81 82 83".split()
)
_EARLIEST_BIRTH = date(1880, 1, 1)

_CREDIT_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_CREDIT_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
_CREDIT_RE = re.compile(rf"^[{_CREDIT_CHARS}]{{18}}$")

_MOBILE_RE = re.compile(r"^1[3-9]\d{9}$")
_LANDLINE_RE = re.compile(r"^(?:0(?:10|2\d)[2-9]\d{7}|0[3-9]\d{2}[2-9]\d{6,7})$")
_PHONE_SEPARATORS = str.maketrans("", "", " -()\u00a0\u3000.")
_EMAIL_RE = re.compile(r"^[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}$")


class IdentifierInvalid(ValueError):
    """`code` is one of the error codes of `errors.MESSAGES`; the message never repeats the value."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


def id_number_check_char(first17: str) -> str:
    if len(first17) != 17 or not first17.isascii() or not first17.isdigit():
        raise ValueError("need exactly 17 digits")
    total = sum(int(digit) * weight for digit, weight in zip(first17, _ID_WEIGHTS, strict=True))
    return _ID_CHECK[total % 11]


def check_id_number(value: str, *, today: date | None = None) -> str:
    """The normalised number (upper-case X), or `IdentifierInvalid`."""
    number = value.strip().upper()
    if len(number) == 15 and number.isascii() and number.isdigit():
        raise IdentifierInvalid("id_number_legacy")
    if len(number) != 18 or not number.isascii() or not number[:17].isdigit() or number[17] not in _ID_CHECK:
        raise IdentifierInvalid("id_number_format")
    if number[:2] not in _ID_PROVINCES:
        raise IdentifierInvalid("id_number_region")
    try:
        born = date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        raise IdentifierInvalid("id_number_birth_date") from None
    if born < _EARLIEST_BIRTH:
        raise IdentifierInvalid("id_number_birth_date")
    if born > (today or date.today()):
        raise IdentifierInvalid("id_number_future")
    if id_number_check_char(number[:17]) != number[17]:
        raise IdentifierInvalid("id_number_checksum")
    return number


def credit_code_check_char(first17: str) -> str:
    if len(first17) != 17 or any(char not in _CREDIT_CHARS for char in first17):
        raise ValueError("need 17 characters of the credit-code alphabet")
    total = sum(_CREDIT_CHARS.index(char) * weight for char, weight in zip(first17, _CREDIT_WEIGHTS, strict=True))
    return _CREDIT_CHARS[(31 - total % 31) % 31]


def check_credit_code(value: str) -> str:
    code = value.strip().upper()
    if not _CREDIT_RE.match(code):
        raise IdentifierInvalid("credit_code_format")
    if credit_code_check_char(code[:17]) != code[17]:
        raise IdentifierInvalid("credit_code_checksum")
    return code


def normalise_phone(value: str) -> str:
    """Digits only: `13812345678` for a mobile, `04778612345` (area code with its 0) for a landline."""
    digits = _to_ascii(value).translate(_PHONE_SEPARATORS)
    international = False
    for prefix in ("+86", "0086"):
        if digits.startswith(prefix):
            digits, international = digits[len(prefix) :], True
            break
    else:
        if len(digits) == 13 and digits.startswith("861"):
            digits, international = digits[2:], True
    if not digits.isascii() or not digits.isdigit():
        raise IdentifierInvalid("phone_format")
    # In international form a landline drops its trunk 0: +86 10 1234 5678 is 010 1234 5678.
    if international and not digits.startswith("0") and not _MOBILE_RE.match(digits):
        digits = "0" + digits
    if _MOBILE_RE.match(digits) or _LANDLINE_RE.match(digits):
        return digits
    raise IdentifierInvalid("phone_format")


def check_email(value: str) -> str:
    address = value.strip()
    if len(address) > 254 or not _EMAIL_RE.match(address):
        raise IdentifierInvalid("email_format")
    return address


# Scanning free text. Full-width digits are mapped 1:1 first so offsets stay valid for redaction.
_FULL_WIDTH = str.maketrans(
    {
        **{0xFF10 + i: str(i) for i in range(10)},
        0xFF38: "X",
        0xFF58: "x",
        0xFF0B: "+",
        0xFF0D: "-",
        0xFF08: "(",
        0xFF09: ")",
        0x3000: " ",
    }
)
_SEP = r"[ \-]?"
_DATE = r"(?:18|19|20)\d{2}" + _SEP + r"(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])"
_SCANNERS: tuple[tuple[IdentifierKind, re.Pattern[str]], ...] = (
    ("email", re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")),
    ("id_number", re.compile(rf"(?<![0-9A-Za-z])\d{{6}}{_SEP}{_DATE}{_SEP}\d{{3}}[0-9Xx](?![0-9A-Za-z])")),
    # Legacy 15-digit numbers: region, 2-digit year, month, day, sequence.
    ("id_number", re.compile(r"(?<![0-9A-Za-z])\d{8}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\d{3}(?![0-9A-Za-z])")),
    ("phone", re.compile(rf"(?<![\d+])(?:(?:\+|00)86{_SEP})?1[3-9]\d{_SEP}\d{{4}}{_SEP}\d{{4}}(?!\d)")),
    (
        "phone",
        re.compile(
            rf"(?<!\d)(?:0(?:10|2\d)|\(0(?:10|2\d)\)){_SEP}[2-9]\d{{3}}{_SEP}\d{{4}}(?!\d)"
            rf"|(?<!\d)(?:0[3-9]\d{{2}}|\(0[3-9]\d{{2}}\)){_SEP}[2-9]\d{{2,3}}{_SEP}?\d{{4}}(?!\d)"
        ),
    ),
)


@dataclass(frozen=True)
class Found:
    kind: IdentifierKind
    start: int
    end: int


def find_identifiers(text: str) -> list[Found]:
    """Non-overlapping spans that look like identity numbers, phone numbers or e-mail addresses."""
    scanned = _to_ascii(text)
    found: list[Found] = []
    for kind, pattern in _SCANNERS:
        for match in pattern.finditer(scanned):
            if not any(match.start() < other.end and other.start < match.end() for other in found):
                found.append(Found(kind, match.start(), match.end()))
    return sorted(found, key=lambda item: item.start)


def _to_ascii(text: str) -> str:
    return text.translate(_FULL_WIDTH)


def fold(text: str) -> str:
    """Text as names and addresses are compared: NFKC-normalised, case-folded, without whitespace."""
    return "".join(unicodedata.normalize("NFKC", text).casefold().split())
