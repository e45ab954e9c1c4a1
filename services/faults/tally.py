"""What the campaign did to the system, counted from the system: intake's and the tracker's tables and the
topics, read after the system has settled. The campaign's own records only say which identities to look
up (idempotency keys, event ids, poison positions), never whether something happened.

Every figure comes with how it was counted (`Line.how`); the figures that must be 0 are marked `must_be_zero`
and make the campaign fail when they are not.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import asyncpg

from services.common.topics import CASE_ALERT, CASE_LIFECYCLE, CASE_RECEIVED, CASE_ROUTED, CASE_SUBMITTED, DEADLETTER
from services.faults.forgeries import Forged
from services.faults.load import Sent
from services.faults.poison import PREFIX, Poison
from services.faults.principals import Principal
from services.faults.send import Delivery
from services.faults.topics_read import CONSUMED, GroupLag, TopicRecord, group_lags, read_topic

TOPICS = (CASE_SUBMITTED.name, CASE_RECEIVED.name, CASE_ROUTED.name, CASE_LIFECYCLE.name, CASE_ALERT.name,
          DEADLETTER.name)  # fmt: skip
INPUT_TOPICS = (CASE_SUBMITTED.name, CASE_RECEIVED.name, CASE_ROUTED.name, CASE_LIFECYCLE.name)


@dataclass(frozen=True)
class Line:
    name: str
    value: int
    how: str
    must_be_zero: bool = False
    detail: str = ""

    @property
    def failed(self) -> bool:
        return self.must_be_zero and self.value != 0


@dataclass(frozen=True)
class ForgeryOutcome:
    forged: Forged
    delivery: Delivery
    on_topic: bool
    dead_lettered: int
    applied_by: tuple[str, ...]  # "tracker", "intake"

    @property
    def outcome(self) -> str:
        if self.applied_by:
            return "APPLIED by " + " and ".join(self.applied_by)
        if not self.on_topic:
            return "refused at the broker" if not self.delivery.delivered else "not on the topic (?)"
        return "dead-lettered" if self.dead_lettered else "reached the topic, not applied"


@dataclass(frozen=True)
class PoisonOutcome:
    poison: Poison
    delivery: Delivery
    dead_letters: int  # records on case.deadletter pointing at it (a repeat means a retry loop)
    passed_by: tuple[str, ...]  # consumer groups committed past it
    stuck_at: tuple[str, ...]  # consumer groups whose committed offset is at or before it


@dataclass
class Tally:
    lines: list[Line] = field(default_factory=list)
    forgeries: list[ForgeryOutcome] = field(default_factory=list)
    poison: list[PoisonOutcome] = field(default_factory=list)
    lags: list[GroupLag] = field(default_factory=list)
    dead_letters_by: Counter[str] = field(default_factory=Counter)

    @property
    def failed(self) -> list[Line]:
        return [line for line in self.lines if line.failed]

    def value(self, name: str) -> int:
        return next(line.value for line in self.lines if line.name == name)


@dataclass
class Evidence:
    """The identities the campaign sent (to be looked up), not what became of them."""

    run: str
    sent: Sent
    poison: list[tuple[Poison, Delivery]] = field(default_factory=list)
    forged: list[tuple[Forged, Delivery]] = field(default_factory=list)


def _ids(records: Iterable[TopicRecord], path: tuple[str, ...] = ("id",)) -> Counter[str]:
    found: Counter[str] = Counter()
    for record in records:
        value: Any = record.value
        for name in path:
            value = value.get(name) if isinstance(value, dict) else None
        if isinstance(value, str):
            found[value] += 1
    return found


def _data(record: TopicRecord) -> dict[str, Any]:
    value = record.value.get("data") if isinstance(record.value, dict) else None
    return value if isinstance(value, dict) else {}


async def tally(dsn: str, reader: Principal, evidence: Evidence) -> Tally:
    topics = {topic: await read_topic(reader, topic) for topic in TOPICS}
    lags = await group_lags(reader, CONSUMED)
    conn = await asyncpg.connect(dsn)
    try:
        return await _count(conn, topics, lags, evidence)
    finally:
        await conn.close()


async def _count(
    conn: asyncpg.Connection[Any], topics: dict[str, list[TopicRecord]], lags: list[GroupLag], evidence: Evidence
) -> Tally:
    result = Tally(lags=lags)
    sent, run = evidence.sent, evidence.run
    add = result.lines.append
    forged_ids = {f.event_id for f, _ in evidence.forged}

    # --- cases in ------------------------------------------------------------------------------------
    keys_sent = set(sent.http) | set(sent.http_refused) | set(sent.kafka) | set(sent.kafka_unacknowledged)
    on_submitted = _ids(topics[CASE_SUBMITTED.name])
    kafka_on_topic = {key for key in set(sent.kafka) | set(sent.kafka_unacknowledged) if on_submitted[key]}
    rows = await conn.fetch(
        "SELECT case_id, idempotency_key, request_hash FROM intake.cases WHERE idempotency_key LIKE $1", f"%{run}%"
    )
    case_of = {row["idempotency_key"].split(":", 1)[1]: row["case_id"] for row in rows}
    accepted = sorted(set(case_of.values()))
    add(
        Line(
            "sent",
            len(keys_sent),
            f"submissions the campaign made: {len(set(sent.http) | set(sent.http_refused))} "
            f"over HTTP (one idempotency key each, retried until answered), {len(kafka_on_topic)} of "
            f"{len(set(sent.kafka) | set(sent.kafka_unacknowledged))} Kafka ones found on case.submitted",
        )
    )
    add(Line("accepted", len(accepted), "intake.cases rows under the campaign's idempotency keys"))

    # --- where each accepted case got to ---------------------------------------------------------------
    received_ids: dict[str, set[str]] = defaultdict(set)
    for record in topics[CASE_RECEIVED.name]:
        case_id = _data(record).get("case_id")
        if isinstance(case_id, str) and isinstance(record.value, dict):
            received_ids[case_id].add(str(record.value.get("id")))
    routed_ids: dict[str, set[str]] = defaultdict(set)
    for record in topics[CASE_ROUTED.name]:
        case_id = _data(record).get("case_id")
        event_id = record.value.get("id") if isinstance(record.value, dict) else None
        if isinstance(case_id, str) and event_id not in forged_ids:
            routed_ids[case_id].add(str(event_id))
    tracker_rows = {
        r["case_id"]: r
        for r in await conn.fetch(
            "SELECT case_id, routed_at, stage FROM tracker.cases WHERE case_id = ANY($1)", accepted
        )
    }
    intake_routed = {
        r["case_id"]: r["event_id"]
        for r in await conn.fetch("SELECT case_id, event_id FROM intake.routings WHERE case_id = ANY($1)", accepted)
    }
    routed = [c for c in accepted if routed_ids.get(c) and tracker_rows.get(c) and tracker_rows[c]["routed_at"]]
    add(
        Line(
            "routed",
            len(routed),
            "accepted cases with a case.routed event on the topic (not a forged one) "
            "and a routing in tracker.cases (routed_at)",
        )
    )
    add(Line("tracked", sum(1 for c in accepted if c in tracker_rows), "accepted cases with a row in tracker.cases"))

    answered_missing = sorted(k for k in set(sent.http) | kafka_on_topic if k not in case_of)
    no_received = [c for c in accepted if not received_ids.get(c)]
    not_tracked = [c for c in accepted if c not in tracker_rows]
    not_routed = [c for c in accepted if c in tracker_rows and not tracker_rows[c]["routed_at"]]
    intake_unaware = [c for c in accepted if c not in intake_routed]
    lost_cases = len(answered_missing) + len(
        set(no_received) | set(not_tracked) | set(not_routed) | set(intake_unaware)
    )
    add(
        Line(
            "lost cases",
            lost_cases,
            "answered 2xx or on case.submitted but not in intake.cases "
            f"({len(answered_missing)}), plus accepted cases with no case.received on the topic "
            f"({len(no_received)}), no row in tracker.cases ({len(not_tracked)}), no routing in the tracker "
            f"({len(not_routed)}) or none in intake's status view, intake.routings ({len(intake_unaware)})",
            must_be_zero=True,
            detail=", ".join((answered_missing + not_tracked + not_routed + intake_unaware)[:5]),
        )
    )

    lifecycle_on_topic = {i for i in _ids(topics[CASE_LIFECYCLE.name], ("data", "event_id")) if i in sent.lifecycle}
    handled = {
        r["event_id"]: r["outcome"]
        for r in await conn.fetch(
            "SELECT event_id, outcome FROM tracker.applied_events WHERE event_id = ANY($1)", list(lifecycle_on_topic)
        )
    }
    parked = {
        r["event_id"]
        for r in await conn.fetch(
            "SELECT event_id FROM tracker.parked_events WHERE event_id = ANY($1)", list(lifecycle_on_topic)
        )
    }
    dead = topics[DEADLETTER.name]
    dead_text = "\n".join(str(_data(r).get("payload", "")) for r in dead)
    refused_dead = {i for i in lifecycle_on_topic - set(handled) - parked if i in dead_text}
    lost_events = sorted(lifecycle_on_topic - set(handled) - parked - refused_dead)
    outcomes = Counter(handled.values())
    add(
        Line(
            "units' events",
            len(lifecycle_on_topic),
            "the units' lifecycle events the campaign published, found "
            f"on case.lifecycle; the tracker applied {outcomes['applied']}, refused {outcomes['refused']} (the "
            f"demo's deliberate mistakes among them), dropped {outcomes['duplicate']} as duplicates, refused "
            f"before deciding (dead-lettered only: signature, scope) {len(refused_dead)}; {len(parked)} held (parked)",
        )
    )
    add(
        Line(
            "lost events",
            len(lost_events),
            "units' events on case.lifecycle that the tracker neither handled "
            "(tracker.applied_events), holds (tracker.parked_events) nor dead-lettered",
            must_be_zero=True,
            detail=", ".join(lost_events[:5]),
        )
    )

    # --- duplicates --------------------------------------------------------------------------------
    same_body = sum(n - 1 for n in Counter(r["request_hash"] for r in rows).values() if n > 1)
    extra_received = sum(len(ids) - 1 for c, ids in received_ids.items() if c in case_of.values() and len(ids) > 1)
    extra_routed = sum(len(ids) - 1 for c, ids in routed_ids.items() if c in case_of.values() and len(ids) > 1)
    applied_twice = await conn.fetchval(
        """SELECT coalesce(sum(n - 1), 0) FROM (
               SELECT count(*) AS n FROM tracker.audit_log
               WHERE outcome = 'applied' AND case_id = ANY($1) GROUP BY event_id HAVING count(*) > 1) AS twice""",
        accepted,
    )
    routings_applied = await conn.fetchval(
        """SELECT coalesce(sum(n - 1), 0) FROM (
               SELECT count(*) AS n FROM tracker.applied_events
               WHERE type = 'routed' AND outcome = 'applied' AND case_id = ANY($1) GROUP BY case_id
               HAVING count(*) > 1) AS twice""",
        accepted,
    )
    duplicated = same_body + extra_received + extra_routed + int(applied_twice) + int(routings_applied)
    add(
        Line(
            "duplicated",
            duplicated,
            f"intake cases with the same body as another ({same_body}), cases with more "
            f"than one case.received event id ({extra_received}) or case.routed event id ({extra_routed}) on the "
            f"topics, events applied twice in tracker.audit_log ({applied_twice}), cases the tracker routed twice "
            f"({routings_applied})",
            must_be_zero=True,
        )
    )
    copies = {t: sum(n - 1 for n in _ids(topics[t]).values() if n > 1) for t in (CASE_RECEIVED.name, CASE_ROUTED.name)}
    add(
        Line(
            "redelivered copies",
            sum(copies.values()),
            "the same event id more than once on case.received "
            f"({copies[CASE_RECEIVED.name]}) or case.routed ({copies[CASE_ROUTED.name]}): at least once delivery, "
            "dropped by the consumers' event-id idempotency",
        )
    )

    # --- forgeries -----------------------------------------------------------------------------------
    dead_payloads = [str(_data(r).get("payload", "")) + str(_data(r).get("reason", "")) for r in dead]
    topic_ids = {t: _ids(topics[t]) + _ids(topics[t], ("data", "event_id")) for t in INPUT_TOPICS}
    for forged, delivery in evidence.forged:
        result.forgeries.append(await _forgery(conn, forged, delivery, topic_ids, dead_payloads))
    applied = [f for f in result.forgeries if f.applied_by]
    add(
        Line(
            "forged applied",
            len(applied),
            "forged events applied: the tracker's applied_events outcome "
            "'applied' for the forged event id, intake's stage moved to the forged step at the forged instant, "
            "intake's routing carrying the forged event id, or an intake case under the forged idempotency key",
            must_be_zero=True,
        )
    )

    # --- alerts --------------------------------------------------------------------------------------
    alerts = [r for r in topics[CASE_ALERT.name] if _data(r).get("case_id") in case_of.values()]
    logical: dict[tuple[Any, ...], set[str]] = defaultdict(set)
    for record in alerts:
        data = _data(record)
        key = tuple(data.get(n) for n in ("case_id", "stage", "kind", "escalation_level", "due_at"))
        logical[key].add(str(data.get("alert_id")))
    extra_alerts = sum(len(ids) - 1 for ids in logical.values() if len(ids) > 1)
    table_twice = await conn.fetchval(
        """SELECT coalesce(sum(n - 1), 0) FROM (
               SELECT count(*) AS n FROM tracker.alerts WHERE case_id = ANY($1)
               GROUP BY case_id, stage, generation, kind, escalation_level, due_at HAVING count(*) > 1) AS twice""",
        accepted,
    )
    alert_ids = {str(_data(r).get("alert_id")) for r in alerts}
    recorded = {
        r["alert_id"]
        for r in await conn.fetch(
            "SELECT alert_id FROM tracker.alerts WHERE case_id = ANY($1) AND kind <> 'lapsed'", accepted
        )
    }
    add(
        Line(
            "alerts raised",
            len(alert_ids),
            f"distinct alert ids on case.alert for the campaign's cases "
            f"({len(alerts) - len(alert_ids)} re-sent copies with the same id); tracker.alerts has {len(recorded)}",
        )
    )
    add(
        Line(
            "duplicate alerts",
            extra_alerts + int(table_twice),
            "more than one alert id on case.alert for one "
            f"case, stage, kind, level and due time ({extra_alerts}), or more than one tracker.alerts row for one "
            f"clock, threshold and due time ({table_twice})",
            must_be_zero=True,
        )
    )
    add(
        Line(
            "alerts lost",
            len(recorded - alert_ids),
            "tracker.alerts rows whose alert never reached case.alert",
            must_be_zero=True,
        )
    )

    # --- dead letters, poison, consumers ---------------------------------------------------------------
    for record in dead:
        result.dead_letters_by[f"{_data(record).get('consumer', '?')} ← {_data(record).get('topic', '?')}"] += 1
    distinct_dead = len(_ids(dead))
    add(Line("dead letters", len(dead), f"records on case.deadletter ({distinct_dead} distinct event ids)"))
    for poison, delivery in evidence.poison:
        result.poison.append(_poison(poison, delivery, dead, lags))
    stuck = [lag for lag in lags if lag.lag > 0]
    add(
        Line(
            "stuck consumers",
            len(stuck),
            "consumer groups with records left unconsumed on an input topic after "
            "the settle wait (committed offsets vs end offsets)",
            must_be_zero=True,
            detail=", ".join(f"{g.group} on {g.topic}: {g.lag} behind" for g in stuck),
        )
    )
    stored = await conn.fetchval(
        """SELECT (SELECT count(*) FROM intake.cases WHERE idempotency_key LIKE $1 OR case_id LIKE $1)
                + (SELECT count(*) FROM tracker.cases WHERE case_id LIKE $1)""",
        f"%{PREFIX}%",
    )
    add(Line("poison stored", int(stored), "rows in intake.cases or tracker.cases made from a poison record"))
    return result


async def _forgery(
    conn: asyncpg.Connection[Any],
    forged: Forged,
    delivery: Delivery,
    topic_ids: dict[str, Counter[str]],
    dead_payloads: list[str],
) -> ForgeryOutcome:
    by: list[str] = []
    topic = forged.kind.topic
    if topic == CASE_SUBMITTED.name:
        if await conn.fetchval(
            "SELECT count(*) FROM intake.cases WHERE idempotency_key LIKE $1", f"%:{forged.event_id}"
        ):
            by.append("intake")
    else:
        outcome = await conn.fetchval("SELECT outcome FROM tracker.applied_events WHERE event_id = $1", forged.event_id)
        if outcome == "applied":
            by.append("tracker")
        if topic == CASE_ROUTED.name:
            routing = await conn.fetchval("SELECT event_id FROM intake.routings WHERE case_id = $1", forged.case_id)
            if routing == forged.event_id:
                by.append("intake")
        else:
            row = await conn.fetchrow("SELECT stage, stage_at FROM intake.cases WHERE case_id = $1", forged.case_id)
            kind = "withdrawn" if forged.kind.name.startswith("withdrawn") else "rejected"
            if row is not None and row["stage"] == kind and row["stage_at"] == forged.at:
                by.append("intake")
    return ForgeryOutcome(
        forged,
        delivery,
        on_topic=bool(topic_ids[topic][forged.event_id]),
        dead_lettered=sum(1 for text in dead_payloads if forged.event_id in text),
        applied_by=tuple(by),
    )


def _poison(poison: Poison, delivery: Delivery, dead: list[TopicRecord], lags: list[GroupLag]) -> PoisonOutcome:
    letters = 0
    for record in dead:
        data = _data(record)
        at_it = (data.get("topic"), data.get("partition"), data.get("offset")) == (
            poison.topic, delivery.partition, delivery.offset,
        )  # fmt: skip
        if at_it or poison.case_id in str(data.get("payload", "")):
            letters += 1
    passed: list[str] = []
    stuck: list[str] = []
    if delivery.partition is not None and delivery.offset is not None:
        for lag in lags:
            if lag.topic != poison.topic:
                continue
            committed = lag.committed.get(delivery.partition, 0)
            (passed if committed > delivery.offset else stuck).append(lag.group)
    return PoisonOutcome(poison, delivery, letters, tuple(passed), tuple(stuck))
