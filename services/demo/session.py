"""One demo run against the running system: submit cases to intake, wait until they are routed, then
play the handling units' part on `case.lifecycle` on an accelerated clock, and wait until the tracker
has applied every event.

The accelerated clock: most cases are received back-dated over the last months (intake takes a
`received_at` in the past), so their deadlines have run; their units' events, also back-dated, are
published case by case, oldest first, within `history_seconds`. Cases received now and cases the
receiving unit handles itself move in seconds (a day of their handling takes LIVE_DAY) for
`live_seconds`, so counters and gauges change while Prometheus scrapes them.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from services.access.registry import DEV_CLIENT
from services.common.envelope import wrap
from services.common.kafka import make_broker, publish
from services.common.kafka_principals import DEV_UNIT
from services.common.lifecycle import LIFECYCLE_TYPE, LifecycleBody, LifecycleEvent
from services.common.settings import Settings
from services.common.signing import Signer
from services.common.topics import CASE_LIFECYCLE
from services.demo.lifecycle import HANDLED, Limits, TrackedCase, deal, is_live, misplaced, plan
from services.demo.schedule import received_times
from services.demo.workload import Workload

Log = Callable[[str], None]
# (idempotency key, submission) in order → (index, case id) of each accepted one, and refusals by field.
PostCases = Callable[[Sequence[tuple[str, dict[str, Any]]]], Awaitable[tuple[list[tuple[int, str]], Counter[str]]]]
SOURCE = "xinfang/demo-unit-systems"
# Cases closed at routing (merged, diverted) that a unit's system still tries to accept: refused.
MISPLACED_SHARE = 0.05


@dataclass(frozen=True)
class Options:
    cases: int = 120
    seed: int = 7
    history_days: int = 120
    live_share: float = 0.15
    mistake_share: float = 0.03
    history_seconds: float = 12.0
    live_seconds: float = 15.0
    timeout: float = 60.0


@dataclass
class Result:
    case_ids: list[str] = field(default_factory=list)
    refused: Counter[str] = field(default_factory=Counter)
    corrected: int = 0
    routed: list[TrackedCase] = field(default_factory=list)
    routing_refused: list[str] = field(default_factory=list)
    published: Counter[str] = field(default_factory=Counter)
    event_ids: list[str] = field(default_factory=list)
    applied: int = 0
    started: float = field(default_factory=time.monotonic)

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started


def submissions(options: Options, now: datetime, timezone: str, run_id: str) -> list[tuple[str, dict[str, Any]]]:
    """The run's submissions, oldest receipt first, with their idempotency keys; a few mistaken first
    attempts come right before their corrected resubmission."""
    workload = Workload(seed=options.seed)
    timing = random.Random(f"{options.seed}:timing")
    times = received_times(
        timing,
        options.cases,
        now,
        history_days=options.history_days,
        live_share=options.live_share,
        timezone=timezone,
    )
    result: list[tuple[str, dict[str, Any]]] = []
    for number, received_at in enumerate(times):
        submission = workload.submission(received_at)
        key = f"demo-{options.seed}-{run_id}-{number}"
        mistaken = workload.mistaken(submission) if timing.random() < options.mistake_share else None
        if mistaken is not None:
            result.append((f"{key}-mistyped", mistaken))
        result.append((key, submission))
    return result


_TRACKED = """
SELECT case_id, received_at, routed_at, disposition, coalesce(handling_unit, received_by) AS handling_unit,
       report_within_hours, assignment_due_days IS NOT NULL AS assigned
FROM tracker.cases WHERE case_id = ANY($1) AND routed_at IS NOT NULL
"""


_REFUSED_ROUTING = """
SELECT DISTINCT case_id FROM tracker.applied_events
WHERE case_id = ANY($1) AND type = 'routed' AND outcome = 'refused'
"""


async def wait_routed(
    conn: asyncpg.Connection[Any], case_ids: list[str], timeout: float
) -> tuple[list[TrackedCase], list[str]]:
    """The cases the tracker has with their routing, in submission order, and the cases whose routing
    it refused (dead-lettered), once every case is one or the other (or at the timeout)."""
    deadline = time.monotonic() + timeout
    while True:
        rows = await conn.fetch(_TRACKED, case_ids)
        refused = [r["case_id"] for r in await conn.fetch(_REFUSED_ROUTING, case_ids)]
        if len(rows) + len(refused) >= len(case_ids) or time.monotonic() > deadline:
            order = {case_id: i for i, case_id in enumerate(case_ids)}
            cases = [TrackedCase(**dict(row)) for row in rows]
            return sorted(cases, key=lambda c: order[c.case_id]), refused
        await asyncio.sleep(0.3)


async def wait_applied(conn: asyncpg.Connection[Any], event_ids: list[str], timeout: float) -> int:
    """Events the tracker has handled (applied or refused) by the time all are, or the timeout."""
    deadline = time.monotonic() + timeout
    while True:
        done = await conn.fetchval("SELECT count(*) FROM tracker.applied_events WHERE event_id = ANY($1)", event_ids)
        if done >= len(event_ids) or time.monotonic() > deadline:
            return int(done)
        await asyncio.sleep(0.3)


async def _sleep_until(at: float) -> None:
    await asyncio.sleep(max(at - time.monotonic(), 0.0))


async def replay(
    settings: Settings, history: list[list[LifecycleEvent]], live: list[LifecycleEvent], options: Options, log: Log
) -> Counter[str]:
    """Publish the units' events: back-dated cases one by one, then live events when their time comes."""
    published: Counter[str] = Counter()
    # As the units' systems do: the development stack's unit principal (on another Kafka, the process's own).
    broker = make_broker(settings, "xf-demo", principal=None if settings.kafka_username else DEV_UNIT)
    await broker.start()
    # The units' systems are the development client's (every unit of the country); they sign as it.
    signer = Signer(DEV_CLIENT, settings.intake_dev_signing_key)

    async def send(event: LifecycleEvent) -> None:
        envelope = wrap(
            LifecycleBody(event), type=LIFECYCLE_TYPE, source=SOURCE, case_id=event.case_id, event_id=event.event_id
        )
        await publish(broker, CASE_LIFECYCLE.name, envelope, signer)
        published[event.type] += 1

    try:
        start = time.monotonic()
        step = options.history_seconds / max(len(history), 1)
        shown = ""
        for i, events in enumerate(sorted(history, key=lambda evs: evs[0].at)):
            await _sleep_until(start + i * step)
            month = f"{events[0].at:%Y-%m}"
            if month != shown:
                log(f"[demo]   units report on cases received in {month} ({sum(published.values())} events so far)")
                shown = month
            for event in events:  # one case's events in order, on one partition
                await send(event)
        log(f"[demo] history replayed: {dict(published)}")
        wall = time.time()
        base = time.monotonic()
        for event in sorted(live, key=lambda e: e.at):
            await _sleep_until(base + (event.at.timestamp() - wall))
            await send(event)
    finally:
        await broker.stop()
    return published


def limits_of(settings: Settings) -> Limits:
    from services.tracker.policy import load_policies  # the deadline policy the tracker itself applies

    standard = load_policies(settings.rules_dir).get("standard")
    fallback = Limits()  # for a stage the policy leaves out

    def days(stage: str, default: int) -> int:
        return standard.stage(stage).limit or default if standard.has(stage) else default

    return Limits(
        route=days("route", fallback.route),
        accept=days("accept", fallback.accept),
        handle=days("handle", fallback.handle),
        review_window=days("review_window", fallback.review_window),
        review=days("review", fallback.review),
        rereview_window=days("rereview_window", fallback.rereview_window),
        rereview=days("rereview", fallback.rereview),
        max_extension_days=(
            standard.stage("handle").max_extension_days if standard.has("handle") else fallback.max_extension_days
        ),
        timezone=str(standard.timezone),
    )


async def run_demo(settings: Settings, options: Options, post: PostCases, log: Log) -> Result:
    result = Result()
    now = datetime.now(UTC)
    run_id = f"{now:%Y%m%dT%H%M%S}"
    items = submissions(options, now, settings.timezone, run_id)
    log(
        f"[demo] submitting {options.cases} cases to intake (received over the last {options.history_days} days, "
        f"{options.live_share:.0%} right now; seed {options.seed})"
    )
    accepted, result.refused = await post(items)
    result.case_ids = [case_id for _, case_id in accepted]
    result.corrected = sum(1 for key, _ in items if key.endswith("-mistyped"))
    log(
        f"[demo] intake accepted {len(result.case_ids)}; refused {sum(result.refused.values())} "
        f"{dict(result.refused) or ''} (mistyped identity numbers, resubmitted corrected: {result.corrected})"
    )
    conn = await asyncpg.connect(settings.dsn)
    try:
        result.routed, result.routing_refused = await wait_routed(conn, result.case_ids, options.timeout)
        dispositions = Counter(c.disposition for c in result.routed)
        log(
            f"[demo] routed and tracked {len(result.routed)}/{len(result.case_ids)} in {result.elapsed:.1f}s: "
            + ", ".join(f"{k}={v}" for k, v in dispositions.most_common())
        )
        if result.routing_refused:
            log(
                f"[demo] the tracker refused the routing of {len(result.routing_refused)} case(s) "
                f"(dead-lettered; see its log): {', '.join(result.routing_refused[:5])}"
            )
        history, live = _plans(result.routed, options, time.time(), limits_of(settings))
        log(
            f"[demo] units' systems report on {sum(1 for c in result.routed if c.disposition in HANDLED)} cases: "
            f"{sum(map(len, history))} back-dated events in {options.history_seconds:.0f}s, then "
            f"{len(live)} live events over {options.live_seconds:.0f}s (topic {CASE_LIFECYCLE.name})"
        )
        result.published = await replay(settings, history, live, options, log)
        result.event_ids = [e.event_id for events in history for e in events] + [e.event_id for e in live]
        result.applied = await wait_applied(conn, result.event_ids, options.timeout)
        log(f"[demo] the tracker handled {result.applied}/{len(result.event_ids)} events ({result.elapsed:.1f}s)")
    finally:
        await conn.close()
    return result


def _plans(
    cases: list[TrackedCase], options: Options, wall: float, limits: Limits
) -> tuple[list[list[LifecycleEvent]], list[LifecycleEvent]]:
    """Back-dated cases' events (per case, all in the past) and live events (due during the live phase)."""
    started = datetime.fromtimestamp(wall, UTC)
    # Live cases start once the back-dated history has been told.
    shift = timedelta(seconds=options.history_seconds)
    handled = [c for c in cases if c.disposition in HANDLED]
    live_cases = [c for c in handled if is_live(c)]
    history_cases = [c for c in handled if not is_live(c)]
    deck = random.Random(f"{options.seed}:scenarios")
    scenarios = {
        c.case_id: s
        for group in (live_cases, history_cases)
        for c, s in zip(group, deal(deck, len(group)), strict=True)
    }
    history: list[list[LifecycleEvent]] = []
    live: list[LifecycleEvent] = []
    for index, case in enumerate(cases):
        if case.case_id not in scenarios:
            continue
        rng = random.Random(f"{options.seed}:lifecycle:{index}")
        if is_live(case):
            events = plan(case, scenarios[case.case_id], rng, started + timedelta(seconds=options.live_seconds), limits)
            live += [e.model_copy(update={"at": e.at + shift}) for e in events]
        elif events := plan(case, scenarios[case.case_id], rng, started, limits):
            history.append(events)
    ended = [c for c in cases if c.disposition not in HANDLED]
    for case in deck.sample(ended, min(len(ended), max(1, round(MISPLACED_SHARE * len(ended))))):
        live.append(misplaced(case, started + shift + timedelta(seconds=deck.uniform(0, options.live_seconds))))
    return history, live
