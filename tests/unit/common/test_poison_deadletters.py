"""Dead-lettering cannot fail (minimal fallback, same id, bounded sends), and a record whose effect keeps
failing is given up on after the bound while the records beside it go on."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from aiokafka.errors import KafkaConnectionError

from services.common.attempts import isolate_failures
from services.common.deadletter import dead_letter_event, send_dead_letter
from services.common.envelope import Envelope, to_bytes
from services.common.schemas import DeadLetter


def letter(**fields: object) -> Envelope[DeadLetter]:
    base: dict[str, object] = {
        "consumer": "tracker",
        "topic": "case.lifecycle",
        "partition": 2,
        "offset": 41,
        "reason": "malformed: data.at: a time that cannot be expressed in UTC",
        "payload": b'{"x": 1}',
    }
    return dead_letter_event(**(base | fields))  # type: ignore[arg-type]


async def test_a_letter_kafka_refuses_goes_minimal_with_the_same_id() -> None:
    sent: list[Envelope[DeadLetter]] = []

    async def publish(envelope: Envelope[DeadLetter]) -> None:
        if envelope.data.payload:
            raise ValueError("MessageSizeTooLargeError")  # the full letter is refused
        sent.append(envelope)

    full = letter()
    assert await send_dead_letter(publish, full, pause_s=0)
    (minimal,) = sent
    assert minimal.id == full.id
    data = minimal.data
    assert (data.topic, data.partition, data.offset, data.consumer) == ("case.lifecycle", 2, 41, "tracker")
    assert data.reason == full.data.reason and data.payload == ""
    assert Envelope[DeadLetter].model_validate_json(to_bytes(minimal)).id == full.id


async def test_when_nothing_is_taken_it_gives_up_after_the_bound_without_raising() -> None:
    tries: list[str] = []

    async def publish(envelope: Envelope[DeadLetter]) -> None:
        tries.append(envelope.id)
        raise KafkaConnectionError("down")

    assert not await send_dead_letter(publish, letter(), attempts=3, pause_s=0)
    assert len(tries) == 1 + 3


def test_a_letter_that_cannot_be_built_is_built_minimal() -> None:
    built = letter(case_id="x" * 500, reason="bad \udcff surrogate")  # caseid too long for the envelope
    assert built.data.payload == "" and built.caseid == "unknown"
    assert built.id == letter().id  # position-derived, as the full one
    to_bytes(built)


def test_the_same_record_gets_the_same_letter_id() -> None:
    assert letter().id == letter(reason="another reason").id
    assert letter().id != letter(offset=42).id
    assert letter(key="evt-1").id == letter(key="evt-1", offset=99).id


async def test_a_record_failing_its_effect_is_given_up_after_the_bound() -> None:
    calls: list[tuple[str, ...]] = []
    given_up: list[str] = []

    async def handle(records: Sequence[str]) -> None:
        calls.append(tuple(records))
        if "poison" in records:
            raise RuntimeError("effect failed")

    async def give_up(record: str, error: Exception) -> None:
        given_up.append(record)

    await isolate_failures(["a", "poison", "b"], handle, give_up, attempts=4, what="test", retry_pause_s=0)
    assert given_up == ["poison"]
    assert calls.count(("poison",)) == 4
    assert ("a",) in calls and ("b",) in calls


async def test_transient_errors_propagate_for_redelivery() -> None:
    async def handle(records: Sequence[str]) -> None:
        raise KafkaConnectionError("down")

    async def give_up(record: str, error: Exception) -> None:
        raise AssertionError("a connection error is not the record's fault")

    with pytest.raises(KafkaConnectionError):
        await isolate_failures(["a", "b"], handle, give_up, attempts=2, what="test", transient_pause_s=0)
