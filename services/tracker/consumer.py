"""Applying a batch of consumed records: parse, decide, store, then count.

One database transaction per batch (services.tracker.batch): the batch's cases are locked and read
up front, each record is decided by the engine against them in memory, parked events of a case that
changed are retried, everything is written at once, and the messages the batch produces (dead
letters, the tracker's own lifecycle events) are published before the commit. The consumer commits
the Kafka offsets after this returns, so a crash anywhere replays the batch, and `applied_events`
turns every replayed event into a no-op.
Publishing before the commit means a crash between the two re-publishes with the same event ids.

A record that breaks the batch with an unexpected error is retried alone, up to
`XF_CONSUMER_MAX_ATTEMPTS` times; if it still fails it is dead-lettered as `internal` so that one bad
record cannot stall its partition (services.common.attempts). Connection and lock-conflict errors are
not the record's fault: they propagate, and the batch is redelivered. Dead letters are sent by
services.common.deadletter.send_dead_letter, which falls back to a minimal letter and never fails.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast

import asyncpg
from pydantic import ValidationError

from services.common import signing
from services.common.attempts import TRANSIENT_ERRORS, isolate_failures
from services.common.bounded import Refused as Unbounded
from services.common.bounded import load_json
from services.common.deadletter import dead_letter_event, send_dead_letter
from services.common.envelope import Envelope, now, wrap
from services.common.errors import describe_validation_error
from services.common.kafka import RECORD_LIMITS
from services.common.lifecycle import LIFECYCLE_TYPE, LifecycleBody, LifecycleEvent
from services.common.schemas import ReceivedCase, RoutedCase
from services.common.topics import CASE_LIFECYCLE, CASE_RECEIVED, CASE_ROUTED, CASE_STATUS, DEADLETTER
from services.tracker import engine, metrics, store
from services.tracker.batch import CaseBatch, Parked
from services.tracker.engine import Applied, Held, Incoming, Outcome, Refused
from services.tracker.partners import OUT_OF_SCOPE, Partners, Signer, may_act
from services.tracker.records import PolicyResolver
from services.tracker.status import status_event

log = logging.getLogger("xf.tracker.consumer")
CONSUMER = "tracker"
SOURCE = "xinfang/tracker"

# Parametrised once: building a generic model per record is costly.
_RECEIVED = Envelope[ReceivedCase]
_ROUTED = Envelope[RoutedCase]
_LIFECYCLE = Envelope[LifecycleBody]
_TOPIC_RANK = {CASE_RECEIVED.name: 0, CASE_ROUTED.name: 1, CASE_LIFECYCLE.name: 2}
# Publishes (topic, event) pairs, returning once Kafka has all of them.
PublishAll = Callable[[Sequence[tuple[str, Envelope[Any]]]], Awaitable[None]]


@dataclass(frozen=True)
class Record:
    """A consumed Kafka record, reduced to what the tracker needs."""

    topic: str
    value: bytes
    partition: int | None = None
    offset: int | None = None
    headers: tuple[tuple[str, bytes], ...] = ()
    timestamp: int | None = None
    timestamp_type: int | None = None


@dataclass(frozen=True)
class Malformed:
    reason: str
    case_id: str = "unknown"


def parse(topic: str, value: bytes) -> Incoming | Malformed:
    """The event in a record of case.received, case.routed or case.lifecycle, read within the bounds of
    `services.common.bounded` first (nothing below recurses on or converts what they refuse)."""
    try:
        body = load_json(value, RECORD_LIMITS)
    except Unbounded as refused:
        return Malformed(f"(body): {refused}")
    try:
        if topic == CASE_RECEIVED.name:
            received = _RECEIVED.model_validate_json(value)
            _check_envelope(received, "case.received", received.data.case_id)
            data = received.data
            return Incoming(received.id, data.case_id, "received", data.received_by, data.received_at, data)
        if topic == CASE_ROUTED.name:
            routed = _ROUTED.model_validate_json(value)
            _check_envelope(routed, "case.routed", routed.data.case_id)
            data_r = routed.data
            return Incoming(routed.id, data_r.case_id, "routed", "router", data_r.routed_at, data_r)
        if topic == CASE_LIFECYCLE.name:
            envelope = _LIFECYCLE.model_validate_json(value)
            event = envelope.data.root
            _check_envelope(envelope, LIFECYCLE_TYPE, event.case_id)
            return Incoming(event.event_id, event.case_id, event.type, event.actor, event.at, event)
    except ValidationError as error:
        return Malformed(describe_validation_error(error), _case_id_of(body))
    except ValueError as error:
        return Malformed(str(error), _case_id_of(body))
    return Malformed(f"the tracker does not consume {topic}")


def _check_envelope(envelope: Envelope[Any], expected_type: str, case_id: str) -> None:
    if envelope.type != expected_type:
        raise ValueError(f"type: expected {expected_type!r}, got {envelope.type!r}")
    if envelope.caseid != case_id:
        raise ValueError(f"caseid: the envelope names {envelope.caseid!r}, the event {case_id!r}")


def _case_id_of(body: object) -> str:
    caseid = body.get("caseid") if isinstance(body, dict) else None
    return caseid if isinstance(caseid, str) and 0 < len(caseid) <= 100 else "unknown"


@dataclass
class BatchEffects:
    """What a batch published and must count once it has committed."""

    outgoing: list[tuple[str, Envelope[Any]]] = field(default_factory=list)
    counts: list[Callable[[], None]] = field(default_factory=list)

    def count(self, action: Callable[[], None]) -> None:
        self.counts.append(action)


class Consumer:
    def __init__(
        self, resolver: PolicyResolver, publish: PublishAll, partners: Partners, *, max_attempts: int = 3
    ) -> None:
        self.resolver = resolver
        self.publish = publish
        self.partners = partners
        self.max_attempts = max_attempts

    async def _send_letter(self, letter: Envelope[Any]) -> None:
        await self.publish([(DEADLETTER.name, letter)])

    async def handle(self, pool: asyncpg.Pool, records: Sequence[Record]) -> None:
        metrics.BATCH_EVENTS.observe(len(records))
        with metrics.BATCH_SECONDS.time():
            await self._handle(pool, records)

    async def _handle(self, pool: asyncpg.Pool, records: Sequence[Record]) -> None:
        async def handle(some: Sequence[Record]) -> None:
            await self._batch(pool, some)

        async def give_up(record: Record, error: Exception) -> None:
            await self._internal_failure(pool, record)

        await isolate_failures(records, handle, give_up, attempts=self.max_attempts, what="tracker records")

    async def _batch(self, pool: asyncpg.Pool, records: Sequence[Record]) -> None:
        effects = BatchEffects()
        parsed: list[tuple[Record, Incoming, Signer | None]] = []
        for record, signer in zip(records, await self.partners.identify(records), strict=True):
            if isinstance(signer, signing.Unverified):  # not parsed: nobody vouches for these bytes
                self._unauthorised(effects, record, signer.reason, signer.message)
                continue
            incoming = parse(record.topic, record.value)
            if isinstance(incoming, Malformed):
                self._dead_letter(effects, record, "malformed", incoming.reason, incoming.case_id, event_id=None)
                effects.count(_count_malformed(record.topic))
            else:
                parsed.append((record, incoming, signer))
        # Cases are independent of each other. Within a case, a topic's order is kept (stable sort),
        # and a receipt goes before its routing before its lifecycle events: the topics have no order
        # between them, and this is the only order in which they can apply.
        parsed.sort(key=lambda item: (item[1].case_id, _TOPIC_RANK.get(item[0].topic, 3)))
        if parsed:
            async with pool.acquire() as conn, conn.transaction():
                batch = CaseBatch(conn, self.resolver)
                await batch.load((i.event_id for _, i, _ in parsed), (i.case_id for _, i, _ in parsed))
                for record, incoming, signer in parsed:
                    await self.process(batch, record, incoming, effects, signer)
                await batch.flush()
                await self._flush(effects)
        else:
            await self._flush(effects)
        for action in effects.counts:
            action()

    async def _flush(self, effects: BatchEffects) -> None:
        if effects.outgoing:
            letters = [envelope for topic, envelope in effects.outgoing if topic == DEADLETTER.name]
            others = [(topic, envelope) for topic, envelope in effects.outgoing if topic != DEADLETTER.name]
            # Dead letters go one by one through the path that cannot fail; the rest at once.
            await asyncio.gather(
                *([self.publish(others)] if others else []),
                *(send_dead_letter(self._send_letter, letter) for letter in letters),
            )
            effects.outgoing.clear()

    async def process(
        self, batch: CaseBatch, record: Record, incoming: Incoming, effects: BatchEffects, signer: Signer | None = None
    ) -> None:
        if incoming.event_id in batch.seen:
            effects.count(lambda: metrics.EVENTS_DUPLICATE.labels(incoming.type).inc())
            return
        case = batch.record(incoming.case_id)
        if case is not None and not self._may_act(signer, incoming, case):
            self._out_of_scope(effects, record, incoming, signer)
            return
        outcome = engine.decide(case, incoming, self.resolver)
        self.record(batch, record, incoming, case, outcome, effects, held_before=False, signer=signer)
        if isinstance(outcome, Applied):
            await self.retry_parked(batch, incoming.case_id, effects)

    def record(
        self,
        batch: CaseBatch,
        record: Record,
        incoming: Incoming,
        case: engine.CaseRecord | None,
        outcome: Outcome,
        effects: BatchEffects,
        *,
        held_before: bool,
        signer: Signer | None = None,
    ) -> None:
        common = {"case_id": incoming.case_id, "event_id": incoming.event_id, "actor": incoming.actor}
        event_type = _audit_type(incoming)
        ruleset = case.row.get("ruleset_version") if case is not None else None
        if isinstance(outcome, Applied):
            after = batch.apply(incoming.case_id, incoming.at, outcome)
            batch.handled(incoming.event_id, incoming.case_id, incoming.type, "applied")
            batch.audit(
                **common,
                event_type=event_type,
                at=incoming.at,
                outcome="applied",
                ruleset_version=after.row.get("ruleset_version"),
                policy_version=outcome.policy_version,
                detail=_applied_detail(outcome, held_before),
            )
            for derived in outcome.derived:
                effects.outgoing.append((CASE_LIFECYCLE.name, lifecycle_envelope(derived)))
            effects.outgoing.append((CASE_STATUS.name, status_event(after, incoming)))
            before = dict(case.row) if case is not None else None
            effects.count(lambda: metrics.observe_applied(incoming.type, after.row, before, outcome))
        elif isinstance(outcome, Held):
            batch.park(
                Parked(
                    incoming.event_id,
                    incoming.case_id,
                    record.topic,
                    incoming.type,
                    incoming.at,
                    record.value,
                    f"{outcome.kind}: {outcome.reason}",
                    partner=signer.name if signer is not None else None,
                )
            )
            if case is not None:
                # A case not received yet has no audit trail to append to: its parked events enter it
                # when they are applied (marked was_held) or refused.
                batch.audit(
                    **common,
                    event_type=event_type,
                    at=incoming.at,
                    outcome="held",
                    ruleset_version=ruleset,
                    detail={"kind": outcome.kind, "reason": outcome.reason},
                )
            effects.count(lambda: metrics.EVENTS_HELD.labels(incoming.type, outcome.kind).inc())
        elif isinstance(outcome, Refused):
            self.refuse(batch, record, incoming, outcome.kind, outcome.reason, effects, ruleset=ruleset)
        else:
            batch.handled(incoming.event_id, incoming.case_id, incoming.type, "duplicate")
            effects.count(lambda: metrics.EVENTS_DUPLICATE.labels(incoming.type).inc())

    def refuse(
        self,
        batch: CaseBatch,
        record: Record,
        incoming: Incoming,
        kind: str,
        reason: str,
        effects: BatchEffects,
        *,
        ruleset: str | None = None,
    ) -> None:
        """Record a refusal (state untouched) in the audit, and dead-letter the event with the reason."""
        batch.handled(incoming.event_id, incoming.case_id, incoming.type, "refused")
        batch.audit(
            case_id=incoming.case_id,
            event_id=incoming.event_id,
            event_type=_audit_type(incoming),
            actor=incoming.actor,
            at=incoming.at,
            outcome="refused",
            ruleset_version=ruleset,
            detail={"kind": kind, "reason": reason},
        )
        self._dead_letter(effects, record, kind, reason, incoming.case_id, event_id=incoming.event_id)
        effects.count(lambda: metrics.EVENTS_REFUSED.labels(incoming.type, kind).inc())

    async def retry_parked(self, batch: CaseBatch, case_id: str, effects: BatchEffects) -> None:
        """Apply the case's parked events that now fit, until none does (each may unblock another)."""
        progress = True
        while progress:
            progress = False
            for parked in await batch.parked(case_id):
                record = Record(parked.topic, parked.payload)
                incoming = parse(record.topic, record.value)
                if isinstance(incoming, Malformed):  # cannot happen: it parsed when it was parked
                    batch.unpark(parked)
                    continue
                case = batch.record(case_id)
                signer = await self.partners.signer_named(parked.partner) if parked.partner else None
                if case is not None and not self._may_act(signer, incoming, case, parked.partner):
                    batch.unpark(parked)
                    self._out_of_scope(effects, record, incoming, signer)
                    continue
                outcome = engine.decide(case, incoming, self.resolver)
                if isinstance(outcome, Held):
                    continue
                batch.unpark(parked)
                self.record(batch, record, incoming, case, outcome, effects, held_before=True, signer=signer)
                if isinstance(outcome, Applied):
                    progress = True
                    break  # the case changed: start again from its oldest parked event

    async def expire_parked(self, pool: asyncpg.Pool, *, parked_before: datetime, limit: int) -> int:
        """Refuse the parked events that waited since before `parked_before` for an event that never came."""
        effects = BatchEffects()
        async with pool.acquire() as conn, conn.transaction():
            rows = await store.expire_parked(conn, parked_before=parked_before, limit=limit)
            batch = CaseBatch(conn, self.resolver)
            for row in rows:
                record = Record(row["topic"], bytes(row["payload"]))
                incoming = parse(record.topic, record.value)
                if isinstance(incoming, Malformed):
                    continue
                kind, _, reason = str(row["reason"]).partition(": ")
                since = row["parked_at"].isoformat(timespec="seconds")
                why = f"{reason} (held since {since}; the event it depends on never came)"
                self.refuse(batch, record, incoming, kind or "premature", why, effects)
            await batch.flush()
            await self._flush(effects)
        for action in effects.counts:
            action()
        return len(rows)

    @staticmethod
    def _may_act(
        signer: Signer | None, incoming: Incoming, case: engine.CaseRecord, parked_by: str | None = None
    ) -> bool:
        """Whether the signer of a lifecycle event may act on the case as it stands (partners.py)."""
        if incoming.type in ("received", "routed"):
            return True
        if signer is None:  # a parked event whose partner has lost its key or was revoked meanwhile
            return parked_by is None
        return may_act(signer, cast(LifecycleEvent, incoming.body), case)

    def _unauthorised(self, effects: BatchEffects, record: Record, reason: str, message: str) -> None:
        """A record nobody vouches for: dead-lettered and counted, nothing else recorded."""
        log.warning("refused %s/%s@%s: %s", record.topic, record.partition, record.offset, message)
        self._dead_letter(effects, record, reason, message, "unknown", event_id=None)
        effects.count(lambda: metrics.EVENTS_REFUSED.labels(record.topic, reason).inc())

    def _out_of_scope(self, effects: BatchEffects, record: Record, incoming: Incoming, signer: Signer | None) -> None:
        """A partner's event for a case it may not act on: refused without a trace in the case (its id
        stays free for the event of the partner that may), dead-lettered and counted."""
        who = signer.name if signer is not None else "a partner without a signing key now"
        reason = f"{who} may not record {incoming.type} for case {incoming.case_id} as it stands"
        log.warning("refused event %s: %s", incoming.event_id, reason)
        key = f"{OUT_OF_SCOPE}/{incoming.event_id}"  # a parked event has no position to derive one from
        self._dead_letter(effects, record, OUT_OF_SCOPE, reason, incoming.case_id, event_id=key)
        effects.count(lambda: metrics.EVENTS_REFUSED.labels(incoming.type, OUT_OF_SCOPE).inc())

    def _dead_letter(
        self,
        effects: BatchEffects,
        record: Record,
        kind: str,
        reason: str,
        case_id: str,
        *,
        event_id: str | None,
    ) -> None:
        # The same refusal replayed gets the same id; a malformed record is identified by its position.
        envelope = dead_letter_event(
            consumer=CONSUMER,
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
            reason=f"{kind}: {reason}",
            payload=record.value,
            case_id=case_id,
            key=event_id,
        )
        effects.outgoing.append((DEADLETTER.name, envelope))

    async def _internal_failure(self, pool: asyncpg.Pool, record: Record) -> None:
        """Refuse the record as `internal` (audited); if even that fails, dead-letter it without the database."""
        try:
            await self._refuse_internal(pool, record)
        except TRANSIENT_ERRORS:
            raise
        except Exception:
            where = f"{record.topic}/{record.partition}@{record.offset}"
            log.exception("refusing %s failed; dead-lettering it without the database", where)
            effects = BatchEffects()
            self._dead_letter(effects, record, "internal", "could not be processed", "unknown", event_id=None)
            await self._flush(effects)

    async def _refuse_internal(self, pool: asyncpg.Pool, record: Record) -> None:
        where = f"{record.topic}/{record.partition}@{record.offset}"
        log.error("record %s cannot be applied; dead-lettering it", where)
        effects = BatchEffects()
        incoming = parse(record.topic, record.value)
        if isinstance(incoming, Malformed):
            self._dead_letter(effects, record, "internal", "could not be processed", incoming.case_id, event_id=None)
            await self._flush(effects)
            return
        async with pool.acquire() as conn, conn.transaction():
            batch = CaseBatch(conn, self.resolver)
            self.refuse(batch, record, incoming, "internal", "the tracker could not apply it (see its log)", effects)
            await batch.flush()
            await self._flush(effects)
        for action in effects.counts:
            action()


def lifecycle_envelope(event: LifecycleEvent, time: datetime | None = None) -> Envelope[LifecycleBody]:
    return wrap(
        LifecycleBody(event),
        type=LIFECYCLE_TYPE,
        source=SOURCE,
        case_id=event.case_id,
        event_id=event.event_id,
        time=time or now(),
    )


def _count_malformed(topic: str) -> Callable[[], None]:
    return lambda: metrics.EVENTS_REFUSED.labels(topic, "malformed").inc()


def _audit_type(incoming: Incoming) -> str:
    return f"case.{incoming.type}" if incoming.type in ("received", "routed") else incoming.type


def _applied_detail(applied: Applied, held_before: bool) -> dict[str, Any]:
    detail: dict[str, Any] = {
        "stage": applied.transition.state.stage,
        "opens": list(applied.transition.opens),
        "closes": list(applied.transition.closes),
        "clocks": {
            w.stage: {"due_date": w.due_date.isoformat(), "policy_version": w.policy_version, "outcome": w.outcome}
            for w in applied.clocks
        },
    }
    if applied.superseded:
        detail["superseded"] = list(applied.superseded)
    if held_before:
        detail["was_held"] = True
    return detail
