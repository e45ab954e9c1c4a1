"""Reading `case.deadletter` and replaying what it points at, for `xf deadletters` (cli.py).

A dead letter names the record it refused by topic, partition and offset. Replay publishes that record
again, byte for byte (key, value and headers, read back from its topic at that offset), to the same
topic, with a header `xf-replay-of` naming the dead letter; the consumers apply it once, by event id,
however often it is replayed. A record no longer on its topic (removed by retention) or a letter without a
position cannot be replayed: the command says so, and never rebuilds a record from a letter's payload
(cut, re-encoded, or only a pointer: intake's letters never carry a case's content).
Dead letters are read within the bounds of services.common.bounded, as any consumer reads a record.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.structs import ConsumerRecord, TopicPartition
from pydantic import ValidationError

from services.common.bounded import Refused, load_json
from services.common.envelope import Envelope
from services.common.kafka import RECORD_LIMITS, client_options
from services.common.schemas import DeadLetter
from services.common.settings import Settings
from services.common.topics import ALL_TOPICS, DEADLETTER

REPLAY_HEADER = "xf-replay-of"
LETTER_ID = re.compile(r"\A[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\Z")
CONSUMER_NAME = re.compile(r"\A[a-z][a-z0-9_-]{0,63}\Z")
TOPICS = tuple(topic.name for topic in ALL_TOPICS if topic is not DEADLETTER)
Position = tuple[str, int, int]


@dataclass(frozen=True)
class Letter:
    id: str
    time: datetime
    caseid: str
    data: DeadLetter

    @property
    def position(self) -> Position | None:
        data = self.data
        if data.partition is None or data.offset is None:
            return None
        return (data.topic, data.partition, data.offset)


@dataclass(frozen=True)
class Filter:
    consumer: str | None = None
    topic: str | None = None
    since: datetime | None = None
    reason: str | None = None  # a substring of the reason

    def __call__(self, letter: Letter) -> bool:
        return (
            (self.consumer is None or letter.data.consumer == self.consumer)
            and (self.topic is None or letter.data.topic == self.topic)
            and (self.since is None or letter.time >= self.since)
            and (self.reason is None or self.reason in letter.data.reason)
        )


def parse_letter(value: bytes | None) -> Letter | None:
    """A `case.deadletter` record, or None when it is not one (bounded first, then the schema)."""
    try:
        load_json(value or b"", RECORD_LIMITS)
        envelope = Envelope[DeadLetter].model_validate_json(value or b"")
    except (Refused, ValidationError):
        return None
    return Letter(envelope.id, envelope.time, envelope.caseid, envelope.data)


def latest(letters: Iterable[Letter]) -> list[Letter]:
    """One per id (a redelivered record is dead-lettered again under the same id), oldest first."""
    by_id: dict[str, Letter] = {}
    for letter in letters:
        by_id.setdefault(letter.id, letter)
    return sorted(by_id.values(), key=lambda letter: (letter.time, letter.id))


async def read_letters(settings: Settings, *, scan: int) -> tuple[list[Letter], int]:
    """The dead letters among the last `scan` records of each partition of case.deadletter, and how many
    records there were not dead letters."""
    consumer = AIOKafkaConsumer(**client_options(settings), enable_auto_commit=False)
    await consumer.start()
    try:
        partitions = [TopicPartition(DEADLETTER.name, p) for p in range(DEADLETTER.partitions)]
        consumer.assign(partitions)
        starts = await consumer.beginning_offsets(partitions)
        ends = await consumer.end_offsets(partitions)
        for tp in partitions:
            consumer.seek(tp, max(starts[tp], ends[tp] - scan))
        letters: list[Letter] = []
        unreadable = 0
        pending = {tp for tp in partitions if ends[tp] > max(starts[tp], ends[tp] - scan)}
        while pending:
            batches = await consumer.getmany(*pending, timeout_ms=2000, max_records=1000)
            if not batches:
                break
            for tp, records in batches.items():
                for record in records:
                    if record.offset >= ends[tp]:
                        continue
                    letter = parse_letter(record.value)
                    if letter is None:
                        unreadable += 1
                    else:
                        letters.append(letter)
                if records and records[-1].offset >= ends[tp] - 1:
                    pending.discard(tp)
        return latest(letters), unreadable
    finally:
        await consumer.stop()


@dataclass(frozen=True)
class Replayed:
    position: Position | None
    letters: tuple[str, ...]  # the dead letters that named this record
    outcome: str  # replayed, would_replay, gone, no_position
    detail: str = ""


def group_by_record(letters: Sequence[Letter]) -> list[tuple[Position | None, list[Letter]]]:
    """Letters naming the same record (e.g. the router's and the tracker's for one case.received) once."""
    grouped: dict[Position, list[Letter]] = {}
    alone: list[tuple[Position | None, list[Letter]]] = []
    for letter in letters:
        position = letter.position
        if position is None:
            alone.append((None, [letter]))
        else:
            grouped.setdefault(position, []).append(letter)
    return [*grouped.items(), *alone]


async def replay(settings: Settings, letters: Sequence[Letter], *, dry_run: bool) -> list[Replayed]:
    """Publish each named record again to its topic (once per record), or say why not."""
    results: list[Replayed] = []
    consumer = AIOKafkaConsumer(**client_options(settings), enable_auto_commit=False)
    producer = AIOKafkaProducer(**client_options(settings), enable_idempotence=True, acks="all")
    await consumer.start()
    await producer.start()
    try:
        for position, named in group_by_record(letters):
            ids = tuple(letter.id for letter in named)
            if position is None:
                results.append(Replayed(None, ids, "no_position", "the letter names no partition and offset"))
                continue
            topic, partition, offset = position
            if topic not in TOPICS:
                results.append(Replayed(position, ids, "gone", f"{topic} is not a topic of the pipeline"))
                continue
            record = await _record_at(consumer, TopicPartition(topic, partition), offset)
            if record is None:
                results.append(Replayed(position, ids, "gone", "no longer on its topic (retention)"))
                continue
            if dry_run:
                results.append(Replayed(position, ids, "would_replay"))
                continue
            headers = [(k, v) for k, v in (record.headers or ()) if k != REPLAY_HEADER]
            headers.append((REPLAY_HEADER, ids[0].encode()))
            sent = await producer.send_and_wait(topic, record.value, key=record.key, headers=headers)
            results.append(Replayed(position, ids, "replayed", f"now {topic}/{sent.partition}@{sent.offset}"))
    finally:
        await producer.stop()
        await consumer.stop()
    return results


async def _record_at(
    consumer: AIOKafkaConsumer, tp: TopicPartition, offset: int
) -> ConsumerRecord[bytes, bytes] | None:
    starts = await consumer.beginning_offsets([tp])
    ends = await consumer.end_offsets([tp])
    if not starts[tp] <= offset < ends[tp]:
        return None
    consumer.assign([tp])
    consumer.seek(tp, offset)
    for _ in range(10):
        batches = await consumer.getmany(tp, timeout_ms=2000, max_records=1)
        for record in batches.get(tp, []):
            return record if record.offset == offset else None
    return None
