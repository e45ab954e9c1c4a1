"""Reading untrusted JSON (HTTP bodies, Kafka records) within bounds, before any parser recurses on it.

`check_raw` bounds the bytes themselves: size, UTF-8, nesting depth, NUL and other control characters
(which JSON can only carry escaped, as `\\u0000`…), and is cheap enough for every record of a hot
path (C-speed scans; the bracket walk only runs when a record has more brackets than the depth
allows). `load_json` is `check_raw` followed by a decode that refuses numbers Python or PostgreSQL
cannot hold. `check_typed` is the part of `check_raw` a decoder into typed structs (msgspec.Struct, no
`Any` field) leaves undone, for hot paths that decode that way. All raise `Refused`, whose message names
what was wrong and never quotes the input.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

import msgspec


class Refused(ValueError):
    """An input refused before or while parsing; `code` is stable, the message is for people."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Limits:
    max_bytes: int = 1_048_576
    max_depth: int = 32
    # False: control characters are let through here, for a caller that refuses them itself with the
    # field named (`control_paths` on the decoded value).
    refuse_control: bool = True


DEFAULT = Limits()

# A JSON string (escapes included), so that brackets inside strings are not counted as nesting.
_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_BRACKET = re.compile(rb"[\[\]{}]")
# An escaped control character other than tab, newline and carriage return, preceded by an even
# number of backslashes (an odd number would make the backslash itself the escaped character).
_CONTROL = re.compile(rb"(?<!\\)(?:\\\\)*\\u00(?:0[0-8bBcCeEfF]|1[0-9a-fA-F]|7[fF])")
_CONTROL_TEXT = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
_RAW_CONTROL = bytes([*range(0x00, 0x09), 0x0B, 0x0C, *range(0x0E, 0x20), 0x7F])


def check_raw(raw: bytes, limits: Limits = DEFAULT) -> None:
    if len(raw) > limits.max_bytes:
        raise Refused("too_large", f"{len(raw)} bytes, at most {limits.max_bytes}")
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise Refused("not_utf8", f"invalid UTF-8 at byte {error.start}") from None
    if limits.refuse_control and (len(raw.translate(None, _RAW_CONTROL)) != len(raw) or _escaped_control(raw)):
        raise Refused("control_character", "NUL or another control character in a string")
    if raw.count(b"[") + raw.count(b"{") > limits.max_depth:
        _check_depth(raw, limits.max_depth)


def check_typed(raw: bytes, limits: Limits = DEFAULT) -> None:
    """Size and escaped control characters: what a typed msgspec decoder does not refuse by itself. It
    refuses invalid UTF-8, raw control characters, nesting its types do not have and integers beyond
    their bounds (tests/unit/common/test_bounded.py holds it to that)."""
    if len(raw) > limits.max_bytes:
        raise Refused("too_large", f"{len(raw)} bytes, at most {limits.max_bytes}")
    if _escaped_control(raw):
        raise Refused("control_character", "NUL or another control character in a string")


def _escaped_control(raw: bytes) -> bool:
    # find() of one byte is a memchr, several times faster than looking for the escape itself
    return raw.find(b"\\") >= 0 and _CONTROL.search(raw) is not None


def _check_depth(raw: bytes, max_depth: int) -> None:
    depth = 0
    for match in _BRACKET.finditer(_STRING.sub(b'""', raw)):
        if match.group() in (b"[", b"{"):
            depth += 1
            if depth > max_depth:
                raise Refused("too_deep", f"nested more than {max_depth} deep")
        else:
            depth -= 1


def load_json(raw: bytes, limits: Limits = DEFAULT) -> Any:
    """The decoded value of `raw`, or `Refused`. Integers fit in 64 bits, floats are finite."""
    check_raw(raw, limits)
    try:
        value = msgspec.json.decode(raw)
    except msgspec.ValidationError as error:  # msgspec's word for an integer beyond 64 bits
        raise Refused("number_out_of_range", str(error)) from None
    except (msgspec.DecodeError, RecursionError) as error:
        if "out of range" in str(error):  # a float beyond the double range
            raise Refused("number_out_of_range", str(error)) from None
        raise Refused("not_json", str(error)) from None
    _check_numbers(value)
    return value


def _check_numbers(value: Any) -> None:
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, float) and not math.isfinite(item):
            raise Refused("number_out_of_range", "a number too large to be finite")
        elif isinstance(item, int) and not _INT64_MIN <= item <= _INT64_MAX:  # msgspec lets big negatives through
            raise Refused("number_out_of_range", "an integer beyond 64 bits")


def control_paths(value: Any, path: str = "") -> list[str]:
    """Dotted paths (list items by index) of the strings, keys included, in a decoded JSON value that hold
    a control character other than tab, newline and carriage return (C0, DEL and C1)."""
    found: list[str] = []
    stack: list[tuple[str, Any]] = [(path, value)]
    while stack:
        where, item = stack.pop()
        if isinstance(item, str):
            if _CONTROL_TEXT.search(item):
                found.append(where)
        elif isinstance(item, dict):
            for key, child in item.items():
                child_path = f"{where}.{key}" if where else str(key)
                if isinstance(key, str) and _CONTROL_TEXT.search(key):
                    found.append(child_path)
                stack.append((child_path, child))
        elif isinstance(item, list):
            stack.extend((f"{where}.{index}" if where else str(index), child) for index, child in enumerate(item))
    return sorted(found)
