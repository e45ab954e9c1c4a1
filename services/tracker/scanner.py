"""The deadline scanner: raises each clock's alerts once, and concludes cases whose window lapsed.

It never reads every case. Each running clock carries `next_alert_at`, the instant its next
threshold is reached (services.tracker.alerting); a round claims the clocks whose instant has come
through the partial index on that column, `FOR UPDATE SKIP LOCKED`, so several tracker instances
share the work without waiting on each other and never claim the same clock at once. For each
claimed clock it publishes the alerts (case.alert) or the conclusion of a lapsed window
(case.lifecycle, applied by the consumer like any other event), records them in `alerts` and moves
`alert_level` and `next_alert_at` on, then commits. The cost of a round is the alerts it raises.

Exactly once: a clock's threshold is raised by the one transaction that moves its alert_level past
it; the `alerts` table has one row per alert id. Publishing comes before the commit, so a crash in
between re-publishes the same alert with the same `alert_id` (consumers drop repeats).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
from pydantic import ValidationError

from services.common.alerts import ALERT_TYPE, CaseAlert
from services.common.envelope import Envelope, deterministic_id, wrap
from services.common.lifecycle import Concluded
from services.common.topics import CASE_ALERT, CASE_LIFECYCLE
from services.tracker import alerting, metrics, units
from services.tracker.clock import WINDOW_STAGES
from services.tracker.consumer import SOURCE, lifecycle_envelope
from services.tracker.engine import TRACKER_ACTOR
from services.tracker.records import Row

log = logging.getLogger("xf.tracker.scanner")
Publish = Callable[[str, Envelope[Any]], Awaitable[None]]

_CLAIM = """
SELECT case_id, stage, generation, unit, started_at, due_date, due_at, warn_at, alert_level,
       escalation_levels, breach_window, policy, policy_version
FROM clocks
WHERE next_alert_at <= $1
ORDER BY next_alert_at
LIMIT $2
FOR UPDATE SKIP LOCKED
"""
_ADVANCE = """
UPDATE clocks AS c SET alert_level = u.alert_level, next_alert_at = u.next_alert_at
FROM unnest($1::text[], $2::text[], $3::int[], $4::int[], $5::timestamptz[])
     AS u(case_id, stage, generation, alert_level, next_alert_at)
WHERE c.case_id = u.case_id AND c.stage = u.stage AND c.generation = u.generation
"""
_RECORD = """
INSERT INTO alerts (alert_id, case_id, stage, generation, kind, escalation_level, unit, responsible_unit,
                    due_at, threshold_at, raised_at, raised_by)
SELECT *, $11::timestamptz, $12::text
FROM unnest($1::text[], $2::text[], $3::text[], $4::int[], $5::text[], $6::int[], $7::text[], $8::text[],
            $9::timestamptz[], $10::timestamptz[])
ON CONFLICT (alert_id) DO NOTHING
"""


@dataclass(frozen=True)
class Advance:
    case_id: str
    stage: str
    generation: int
    alert_level: int
    next_alert_at: datetime | None


@dataclass
class ScanPlan:
    alerts: list[CaseAlert] = field(default_factory=list)
    conclusions: list[Concluded] = field(default_factory=list)
    advances: list[Advance] = field(default_factory=list)
    # alert_id, case_id, stage, generation, kind, level, unit, responsible_unit, due_at, threshold_at
    records: list[tuple[Any, ...]] = field(default_factory=list)


@dataclass(frozen=True)
class ScanReport:
    claimed: int
    alerts: int
    lapses: int
    seconds: float


def plan(rows: Sequence[Row], now: datetime, tz: ZoneInfo) -> ScanPlan:
    """What to raise for the claimed clocks, and where each clock's alert state moves. Pure."""
    result = ScanPlan()
    for row in rows:
        stage, due_at = row["stage"], row["due_at"]
        thresholds = alerting.schedule(
            is_window=stage in WINDOW_STAGES,
            warn_at=row["warn_at"],
            due_at=due_at,
            levels=row["escalation_levels"],
            breach_window=row["breach_window"],
        )
        reached = alerting.crossed(thresholds, row["alert_level"], now)
        level = max([t.index for t in reached], default=row["alert_level"])
        next_at = alerting.next_alert_at(thresholds, level)
        result.advances.append(Advance(row["case_id"], stage, row["generation"], level, next_at))
        for threshold in reached:
            _raise(result, row, threshold, now, tz)
    return result


def _raise(result: ScanPlan, row: Row, threshold: alerting.Threshold, now: datetime, tz: ZoneInfo) -> None:
    case_id, stage, generation, due_at = row["case_id"], row["stage"], row["generation"], row["due_at"]
    ids = (case_id, stage, str(generation), due_at.isoformat(), str(threshold.index))
    if threshold.kind == "lapsed":
        event_id = deterministic_id("tracker-window-lapse", *ids)
        result.conclusions.append(Concluded(event_id=event_id, case_id=case_id, at=due_at, actor=TRACKER_ACTOR))
        result.records.append((event_id, case_id, stage, generation, "lapsed", 0, None, None, due_at, threshold.at))
        return
    responsible = row["unit"]
    if not responsible:
        log.warning("clock %s/%s has no responsible unit; alert %s not raised", case_id, stage, threshold.kind)
        return
    target = units.escalation_target(responsible, threshold.level) if threshold.kind == "escalated" else responsible
    alert_id = deterministic_id("tracker-alert", *ids)
    try:
        alert = CaseAlert(
            alert_id=alert_id,
            case_id=case_id,
            kind=threshold.kind,
            stage=stage,
            escalation_level=threshold.level,
            unit=target,
            responsible_unit=responsible,
            started_at=row["started_at"],
            due_date=row["due_date"].isoformat(),
            due_at=due_at.astimezone(tz),
            threshold_at=threshold.at.astimezone(tz),
            raised_at=now,
            policy=row["policy"],
            policy_version=row["policy_version"],
        )
    except ValidationError as error:
        log.error("clock %s/%s: alert not raised: %s", case_id, stage, error)
        return
    result.alerts.append(alert)
    record = (alert_id, case_id, stage, generation, threshold.kind, threshold.level, target, responsible, due_at)
    result.records.append((*record, threshold.at))


async def scan_once(
    pool: asyncpg.Pool,
    publish: Publish,
    *,
    now: datetime,
    limit: int,
    instance: str,
    tz: ZoneInfo,
) -> ScanReport:
    started = time.perf_counter()
    async with pool.acquire() as conn, conn.transaction():
        rows = await conn.fetch(_CLAIM, now, limit)
        if not rows:
            return ScanReport(0, 0, 0, time.perf_counter() - started)
        result = plan(rows, now, tz)
        sends = [publish(CASE_ALERT.name, alert_envelope(a, now)) for a in result.alerts]
        sends += [publish(CASE_LIFECYCLE.name, lifecycle_envelope(c, now)) for c in result.conclusions]
        await asyncio.gather(*sends)
        if result.records:
            await conn.execute(_RECORD, *zip(*result.records, strict=True), now, instance)
        advances = result.advances
        await conn.execute(
            _ADVANCE,
            [a.case_id for a in advances],
            [a.stage for a in advances],
            [a.generation for a in advances],
            [a.alert_level for a in advances],
            [a.next_alert_at for a in advances],
        )
    for alert in result.alerts:
        metrics.ALERTS.labels(alert.kind, alert.stage).inc()
    for conclusion in result.records:
        if conclusion[4] == "lapsed":
            metrics.WINDOW_LAPSES.labels(conclusion[2]).inc()
    metrics.SCAN_CLOCKS.inc(len(rows))
    seconds = time.perf_counter() - started
    metrics.SCAN_SECONDS.observe(seconds)
    return ScanReport(len(rows), len(result.alerts), len(result.conclusions), seconds)


async def scan_until_done(
    pool: asyncpg.Pool,
    publish: Publish,
    *,
    now: datetime,
    limit: int,
    instance: str,
    tz: ZoneInfo,
    max_rounds: int = 1000,
) -> list[ScanReport]:
    """Rounds until a round claims less than `limit` clocks (all due work taken by someone)."""
    reports = []
    for _ in range(max_rounds):
        report = await scan_once(pool, publish, now=now, limit=limit, instance=instance, tz=tz)
        reports.append(report)
        if report.claimed < limit:
            break
    return reports


def alert_envelope(alert: CaseAlert, now: datetime) -> Envelope[CaseAlert]:
    return wrap(alert, type=ALERT_TYPE, source=SOURCE, case_id=alert.case_id, event_id=alert.alert_id, time=now)


def hold_cutoff(now: datetime, hold_seconds: float) -> datetime:
    return now - timedelta(seconds=hold_seconds)
