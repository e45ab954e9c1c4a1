"""The pure parts of `xf deadletters`: reading a letter within bounds, one per id, one replay per record."""

from __future__ import annotations

from services.common.deadletter import dead_letter_event
from services.common.envelope import to_bytes
from services.deadletters.letters import Filter, group_by_record, latest, parse_letter


def letter_bytes(consumer: str = "tracker", offset: int | None = 7, reason: str = "malformed: x") -> bytes:
    return to_bytes(
        dead_letter_event(
            consumer=consumer, topic="case.received", partition=1, offset=offset, reason=reason, payload=b"{}"
        )
    )


def test_a_letter_is_read_and_anything_else_is_not() -> None:
    letter = parse_letter(letter_bytes())
    assert letter is not None and letter.position == ("case.received", 1, 7)
    for value in (b"[" * 100_000 + b"]" * 100_000, b"{}", b"\xff", None, letter_bytes()[:-1]):
        assert parse_letter(value) is None


def test_redelivered_letters_count_once_and_records_replay_once() -> None:
    router, tracker = parse_letter(letter_bytes("router")), parse_letter(letter_bytes("tracker"))
    again = parse_letter(letter_bytes("tracker", reason="another try"))
    unplaced = parse_letter(letter_bytes("tracker", offset=None))
    assert router and tracker and again and unplaced
    kept = latest([tracker, again, router])
    assert sorted(x.id for x in kept) == sorted([tracker.id, router.id])
    assert {x.data.reason for x in kept} == {"malformed: x"}  # the first of a redelivered pair
    groups = group_by_record([router, tracker, unplaced])
    assert [(position, [x.data.consumer for x in named]) for position, named in groups] == [
        (("case.received", 1, 7), ["router", "tracker"]),
        (None, ["tracker"]),
    ]


def test_filters() -> None:
    letter = parse_letter(letter_bytes("router", reason="no decision: location.region"))
    assert letter is not None
    assert Filter()(letter) and Filter(consumer="router", topic="case.received", reason="location")(letter)
    assert not Filter(consumer="tracker")(letter) and not Filter(reason="people_count")(letter)
