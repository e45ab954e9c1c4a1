"""`check_typed` leaves to a typed msgspec decoder what it refuses by itself; the event-time window."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import msgspec
import pytest
from pydantic import TypeAdapter, ValidationError

from services.common.bounded import Limits, Refused, check_typed
from services.common.schemas import EventTime


class Typed(msgspec.Struct, forbid_unknown_fields=True):
    text: str
    count: int = 0


@pytest.mark.parametrize(
    "raw",
    [
        b'{"text": "a\xffb"}',  # invalid UTF-8
        b'{"text": "a\x00b"}',  # raw control character
        b'{"text": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
        b'{"text": "a", "count": ' + b"9" * 100_000 + b"}",
        b'{"text": "a", "other": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
    ],
)
def test_what_check_typed_leaves_to_the_typed_decoder_it_refuses(raw: bytes) -> None:
    check_typed(raw)
    with pytest.raises(ValueError):  # msgspec.ValidationError, DecodeError, UnicodeDecodeError
        msgspec.json.decode(raw, type=Typed)


@pytest.mark.parametrize(
    ("raw", "code"),
    [(b'{"text": "a\\u0000b"}', "control_character"), (b'{"text": "' + b"x" * 2000 + b'"}', "too_large")],
)
def test_check_typed_refuses_what_the_decoder_takes(raw: bytes, code: str) -> None:
    msgspec.json.decode(raw, type=Typed)
    with pytest.raises(Refused) as refused:
        check_typed(raw, Limits(max_bytes=1000))
    assert refused.value.code == code


def test_an_escaped_backslash_before_u0000_is_text() -> None:
    check_typed(b'{"text": "a\\\\u0000b"}')


EVENT_TIME: TypeAdapter[datetime] = TypeAdapter(EventTime)


@pytest.mark.parametrize(
    "text", ["9999-12-31T23:59:59-12:00", "0001-01-01T00:00:00+14:00", "1989-12-31T23:59:59Z", "2999-01-01T00:00:00Z"]
)
def test_event_times_outside_the_window_are_refused(text: str) -> None:
    with pytest.raises(ValidationError):
        EVENT_TIME.validate_json(f'"{text}"')


def test_event_times_inside_the_window_are_kept() -> None:
    now = datetime.now(UTC)
    for value in (datetime(1990, 1, 1, tzinfo=UTC), now, now + timedelta(minutes=30)):
        assert EVENT_TIME.validate_python(value) == value
