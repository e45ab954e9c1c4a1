"""One consumed batch: parse every record, decide all cases in one go, publish events, count.

Nothing in here fails the batch except Kafka refusing what we publish: a record that is not a
case, or a case without a decision, becomes a dead letter whose reason names the field.
"""

from __future__ import annotations

import asyncio
import logging
import struct
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any

from aiokafka import AIOKafkaProducer, ConsumerRecord, TopicPartition
from pydantic_core import to_json

from services.common.deadletter import dead_letter_event
from services.common.envelope import now
from services.common.runtime import records_of
from services.router import metrics
from services.router.commits import next_offsets
from services.router.encoded import Encoded, Tally
from services.router.engine import EngineError
from services.router.pipeline import Malformed, parse_received, routed_json
from services.router.received import CaseLike, ReceivedLike
from services.router.rules import Router, RoutingError
from services.router.wire import horizon

if TYPE_CHECKING:
    from faststream.kafka.annotations import KafkaMessage

    from services.router.service import Wiring

log = logging.getLogger("xf.router")
CONSUMER = "router"
JSON = ("content-type", b"application/json")
ROUTED_TYPE = ("ce-type", b"case.routed")
GAP = "gap:"
Outgoing = tuple[bytes, bytes, list[tuple[str, bytes]]]  # key, value, headers


@dataclass
class BatchOutcome:
    routed: int = 0
    dead_letters: int = 0
    decide_seconds: float = 0.0


@dataclass(frozen=True)
class Letter:
    record: ConsumerRecord[bytes, bytes]
    reason: str
    kind: str
    case_id: str


@dataclass
class QueuedBatch:
    """A batch whose events and dead letters are queued on the producer, not yet acknowledged."""

    outcome: BatchOutcome
    offsets: dict[TopicPartition, int]  # to commit once Kafka has the batch (the records are let go)
    sent: list[asyncio.Future[Any]]
    republish: Callable[[], Awaitable[list[asyncio.Future[Any]]]]
    count: Callable[[], None]  # the batch's metrics, once Kafka has acknowledged it


async def route_batch(
    router: Router, producer: AIOKafkaProducer, wiring: Wiring, message: KafkaMessage
) -> BatchOutcome:
    """Route one batch and wait until Kafka has every event (the service pipelines this: commits.py)."""
    queued = await queue_batch(router, producer, wiring, message)
    await asyncio.gather(*queued.sent)
    queued.count()
    return queued.outcome


async def queue_batch(router: Router, producer: AIOKafkaProducer, wiring: Wiring, message: KafkaMessage) -> QueuedBatch:
    records = records_of(message)
    letters: list[Letter] = []
    accepted: list[tuple[ConsumerRecord[bytes, bytes], ReceivedLike]] = []
    latest = horizon()
    for record in records:
        try:
            parsed = parse_received(record.value or b"", latest)
        except Exception as error:  # a bug must not stop the partition: the record is dead-lettered
            log.exception("reading %s/%s@%s failed", record.topic, record.partition, record.offset)
            parsed = Malformed(f"internal error: {type(error).__name__}", "internal")
        if isinstance(parsed, Malformed):
            letters.append(Letter(record, parsed.reason, parsed.kind, parsed.case_id))
        else:
            accepted.append((record, parsed))
    pipeline = router.pipeline
    evaluated = pipeline.evaluated
    started = time.perf_counter()
    results = decide_all(router, [envelope.data for _, envelope in accepted])
    decide_seconds = time.perf_counter() - started
    metrics.ENGINE_EVALUATIONS.inc(pipeline.evaluated - evaluated)

    at_json = to_json(now())
    outgoing: list[Outgoing] = []
    stamps: list[int] = []  # the routed records' timestamps
    tallies: list[Tally] = []
    for (record, envelope), result in zip(accepted, results, strict=True):
        if not isinstance(result, Encoded):
            kind = "engine" if isinstance(result, EngineError) else "undecidable"
            letters.append(Letter(record, f"no decision: {result}", kind, envelope.caseid))
            continue
        decision_bytes, tally = result
        event_id, value = routed_json(envelope, decision_bytes, at_json)
        headers = [JSON, ROUTED_TYPE, ("ce-id", event_id.encode())]
        key = envelope.data.case_id.encode()  # every event of a case is keyed by its case id
        outgoing.append((key, value, headers))
        stamps.append(record.timestamp)
        tallies.append(tally)

    async def send_all() -> list[asyncio.Future[Any]]:
        sends = await publish(producer, wiring.routed, outgoing)
        for letter in letters:
            sends.append(await _dead_letter(producer, wiring.deadletter, letter))
        return sends

    sent = await send_all()
    _lag(message, records)
    outcome = BatchOutcome(len(stamps), len(letters), decide_seconds)
    count = partial(_count, stamps, tallies, letters, decide_seconds, len(records))
    return QueuedBatch(outcome, next_offsets(records), sent, send_all, count)


async def publish(producer: AIOKafkaProducer, topic: str, outgoing: Sequence[Outgoing]) -> list[asyncio.Future[Any]]:
    """Queue the records: one record batch per partition, filled here, instead of one send() each.

    The same partitions (the key's murmur2, as send()'s default partitioner picks them), order and headers as send(),
    for about half the producer's CPU per record (measured: 19 → 9.5 µs). The futures resolve
    when Kafka has the batches, or fail.
    """
    if not outgoing:
        return []
    partitions = list(await producer.partitions_for(topic))
    futures: list[asyncio.Future[Any]] = []
    builders: dict[int, Any] = {}
    for key, value, headers in outgoing:
        partition = partitions[(murmur2(key) & 0x7FFFFFFF) % len(partitions)]
        builder = builders.get(partition)
        if builder is not None:
            if builder.append(key=key, value=value, timestamp=None, headers=headers) is not None:
                continue
            futures.append(await producer.send_batch(builder, topic, partition=partition))  # full: off it goes
        builder = builders[partition] = producer.create_batch()
        if builder.append(key=key, value=value, timestamp=None, headers=headers) is None:
            del builders[partition]  # larger than a batch: send() takes it, or says why not
            futures.append(await producer.send(topic, value, key=key, partition=partition, headers=headers))
    for partition, builder in builders.items():
        futures.append(await producer.send_batch(builder, topic, partition=partition))
    return futures


_M = 0x5BD1E995
_MASK = 0xFFFFFFFF
_WORDS = {n: struct.Struct(f"<{n}I").unpack_from for n in range(64)}


def murmur2(data: bytes) -> int:
    """`aiokafka.partitioner.murmur2` (Kafka's key hash), the same value in half the time: words
    unpacked at once, the masks folded (checked equal on 300,000 random keys of 0 to 300 bytes)."""
    length = len(data)
    h = 0x9747B28C ^ length
    words = length >> 2
    unpack = _WORDS.get(words) or struct.Struct(f"<{words}I").unpack_from
    for k in unpack(data):
        k = (k * _M) & _MASK
        k = ((k ^ (k >> 24)) * _M) & _MASK
        h = ((h * _M) & _MASK) ^ k
    extra = length & 3
    if extra:
        tail = length & ~3
        if extra >= 3:
            h ^= data[tail + 2] << 16
        if extra >= 2:
            h ^= data[tail + 1] << 8
        h = ((h ^ data[tail]) * _M) & _MASK
    h ^= h >> 13
    h = (h * _M) & _MASK
    return h ^ (h >> 15)


def decide_all(router: Router, cases: Sequence[CaseLike]) -> list[Encoded | Exception]:
    """Decisions per case, as the events carry them; an unexpected failure is narrowed down to the cases
    that cause it."""
    try:
        return list(router.encode_each(cases))
    except Exception:
        log.exception("deciding a batch of %d failed; deciding its cases one by one", len(cases))
    results: list[Encoded | Exception] = []
    for case in cases:
        try:
            results.extend(router.encode_each([case]))
        except Exception as error:  # a bug must not stop the partition: the case is dead-lettered
            results.append(RoutingError(f"internal error: {error!r}"))
    return results


async def _dead_letter(producer: AIOKafkaProducer, topic: str, letter: Letter) -> asyncio.Future[Any]:
    record = letter.record
    envelope = dead_letter_event(
        consumer=CONSUMER,
        topic=record.topic,
        partition=record.partition,
        offset=record.offset,
        reason=letter.reason,
        payload=record.value or b"",
        case_id=letter.case_id,
    )
    headers = [JSON, ("ce-type", b"case.deadletter"), ("ce-id", envelope.id.encode())]
    future: asyncio.Future[Any] = await producer.send(
        topic, envelope.model_dump_json().encode(), key=letter.case_id.encode(), headers=headers
    )
    return future


def _count(
    stamps: list[int],
    tallies: list[Tally],
    letters: list[Letter],
    decide_seconds: float,
    record_count: int,
) -> None:
    """Metrics, aggregated per batch: one counter update per label set instead of one per case."""
    acknowledged_ms = time.time() * 1000
    metrics.observe_many(metrics.LATENCY_SECONDS, [max(0.0, acknowledged_ms - stamp) / 1000 for stamp in stamps])
    decisions: Counter[tuple[str, str, str]] = Counter()
    hits: Counter[str] = Counter()
    for tally, count in Counter(tallies).items():  # a few distinct tallies per batch, counted by identity
        decisions[tally.labels] += count
        for rule_id in tally.trace:
            hits[rule_id] += count
    for labels, count in decisions.items():
        metrics.DECISIONS.labels(*labels).inc(count)
    for rule_id, count in hits.items():
        if rule_id.startswith(GAP):
            metrics.GAPS.labels(rule_id[len(GAP) :].partition("@")[0]).inc(count)
        else:
            metrics.RULE_HITS.labels(rule_id).inc(count)
    for kind, count in Counter(letter.kind for letter in letters).items():
        metrics.DEAD_LETTERS.labels(kind).inc(count)
    if stamps:
        metrics.DECISION_SECONDS.observe(decide_seconds / len(stamps))
    metrics.BATCH_SIZE.observe(record_count)


def _lag(message: KafkaMessage, records: list[ConsumerRecord[bytes, bytes]]) -> None:
    highwater = getattr(message.consumer, "highwater", None)
    if highwater is None or not records:
        return
    last: dict[tuple[str, int], int] = {}
    for record in records:
        last[(record.topic, record.partition)] = record.offset
    for (topic, partition), offset in last.items():
        end = highwater(TopicPartition(topic, partition))
        if end is not None:
            metrics.LAG_RECORDS.labels(str(partition)).set(max(0, end - offset - 1))
