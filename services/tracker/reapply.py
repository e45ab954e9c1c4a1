"""Moving running clocks to the current version of their deadline policy (`xf deadlines reapply`).

A running clock keeps the policy version it started with (docs/domain.md §8). After an edit of
rules/deadlines.yaml an operator can move running clocks, deliberately, to the current version of
the policy they run under (same name). The new due date comes from the tracker's own code: the
stored clock is rebuilt (`records.clock_from_row`), given the new policy and written again with
`records.clock_write`, the function every clock row the tracker writes goes through.

Which clocks:
- running ones (`completed_at IS NULL`) of open cases whose policy version is not the current one
  of their policy. Completed, concluded and superseded clocks never change.
- Paused clocks move too and stay paused: their stored due date is as of the pause, as always,
  and moves on when they resume.
- Skipped, with the reason: a policy the rule file no longer defines or that lacks the stage,
  extensions already granted beyond the new maximum, a limit the new policy takes from the case
  that the clock does not have, and a petitioner's window (review_window, rereview_window) whose
  new due is already past: it would conclude the case behind the petitioner's back.

Alerts (the scanner's bookkeeping, services.tracker.alerting): a clock whose due date does not move
keeps its alert level, so no threshold is raised twice. A clock whose due date moves starts the
ladder of the new date: its alert level is the highest threshold already raised for that very due
date (`alerts`; none unless it moves back to a due it had before), so the scanner warns, marks overdue
and escalates again for the new date, never twice for the same one.

Concurrency: each batch is one transaction that takes its clock rows `FOR UPDATE SKIP LOCKED`, as
the scanner does. Rows a tracker instance holds are passed over and tried again afterwards; rows
held here are skipped by the scanner and waited for by the consumer, which then reads the new row.
Every change is appended to the audit trail (`policy_reapplied`), with old and new versions and
due dates, who did it and why.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from typing import Any

import asyncpg

from services.common.db import Conn
from services.common.envelope import deterministic_id
from services.tracker import alerting, store
from services.tracker.clock import WINDOW_STAGES, ClockError
from services.tracker.policy import DeadlinePolicies, PolicyError
from services.tracker.records import ClockWrite, PolicyResolver, Row, clock_from_row, clock_write

AUDIT_EVENT = "policy_reapplied"


@dataclass(frozen=True)
class Filters:
    """Which running clocks to consider (None: any)."""

    policy: str | None = None
    stage: str | None = None
    cases: tuple[str, ...] | None = None


@dataclass(frozen=True)
class Change:
    """One running clock moved (or to be moved) to the current version of its policy, or why not."""

    case_id: str
    stage: str
    generation: int
    policy: str
    old_version: str
    old_due_date: date
    old_due_at: datetime
    old_alert_level: int
    paused: bool
    write: ClockWrite | None = field(default=None, repr=False)  # the new row; None when skipped
    skipped: str | None = None

    @property
    def new_version(self) -> str | None:
        return self.write.policy_version if self.write else None

    @property
    def new_due_date(self) -> date | None:
        return self.write.due_date if self.write else None

    @property
    def new_due_at(self) -> datetime | None:
        return self.write.due_at if self.write else None

    @property
    def key(self) -> tuple[str, str]:
        return self.case_id, self.stage


def plan_clock(
    row: Row, resolver: PolicyResolver, policies: DeadlinePolicies, *, now: datetime, raised: Mapping[datetime, int]
) -> Change:
    """The change for one stored running clock row. `raised`: per due instant, the highest alert
    threshold already raised for this clock instance at that due (from `alerts`). Pure."""
    stage, name = row["stage"], row["policy"]
    base: dict[str, Any] = {
        "case_id": row["case_id"],
        "stage": stage,
        "generation": row["generation"],
        "policy": name,
        "old_version": row["policy_version"],
        "old_due_date": row["due_date"],
        "old_due_at": row["due_at"],
        "old_alert_level": row["alert_level"],
        "paused": row["paused_since"] is not None,
    }
    if name not in policies.policies:
        return Change(**base, skipped=f"the rule file no longer defines policy {name!r}")
    policy = policies.get(name)
    if not policy.has(stage):
        return Change(**base, skipped=f"policy {name!r} no longer has the stage {stage}")
    try:
        stored = clock_from_row(row, resolver)
        clock = replace(stored.clock, policy=policy)
        write = clock_write(clock, generation=stored.generation, unit=stored.unit, alert_level=stored.alert_level)
    except (PolicyError, ClockError, ValueError) as error:
        return Change(**base, skipped=str(error))
    if write.due_at != stored.due_at:
        if stage in WINDOW_STAGES and write.due_at < now:
            due = write.due_date.isoformat()
            return Change(**base, skipped=f"the petitioner's window would have lapsed already ({due})")
        # A new due date: its thresholds are new ones, except those raised for it before.
        level = raised.get(write.due_at, 0)
        write = clock_write(clock, generation=stored.generation, unit=stored.unit, alert_level=level)
    return Change(**base, write=write)


def raised_levels(rows: Iterable[Row]) -> dict[tuple[str, str, int], dict[datetime, int]]:
    """From `alerts` rows: per clock instance (case, stage, generation) and due instant, the highest
    threshold raised."""
    found: dict[tuple[str, str, int], dict[datetime, int]] = {}
    for row in rows:
        per_due = found.setdefault((row["case_id"], row["stage"], row["generation"]), {})
        index = alerting.threshold_index(row["kind"], row["escalation_level"])
        per_due[row["due_at"]] = max(index, per_due.get(row["due_at"], 0))
    return found


def audit_record(
    change: Change, *, actor: str, reason: str, at: datetime, ruleset_version: str | None
) -> dict[str, Any]:
    """The audit trail's record of one applied change (services.tracker.store.audit)."""
    assert change.write is not None
    detail = {
        "stage": change.stage,
        "generation": change.generation,
        "policy": change.policy,
        "old_policy_version": change.old_version,
        "new_policy_version": change.write.policy_version,
        "old_due_date": change.old_due_date.isoformat(),
        "new_due_date": change.write.due_date.isoformat(),
        "old_due_at": change.old_due_at.isoformat(),
        "new_due_at": change.write.due_at.isoformat(),
        "old_alert_level": change.old_alert_level,
        "new_alert_level": change.write.alert_level,
        "paused": change.paused,
        "reason": reason,
    }
    return {
        "case_id": change.case_id,
        "event_id": deterministic_id(AUDIT_EVENT, change.case_id, change.stage, str(change.generation), at.isoformat()),
        "event_type": AUDIT_EVENT,
        "actor": actor,
        "at": at,
        "outcome": "applied",
        "ruleset_version": ruleset_version,
        "policy_version": change.write.policy_version,
        "detail": detail,
    }


# --- in the database -----------------------------------------------------------------------------------

_CANDIDATES = """
SELECT k.*, c.ruleset_version AS case_ruleset_version
FROM clocks k
JOIN cases c ON c.case_id = k.case_id
LEFT JOIN unnest($1::text[], $2::text[]) AS current(name, version) ON current.name = k.policy
WHERE k.completed_at IS NULL AND NOT c.closed
  AND k.policy_version IS DISTINCT FROM current.version
  AND ($3::text IS NULL OR k.policy = $3)
  AND ($4::text IS NULL OR k.stage = $4)
  AND ($5::text[] IS NULL OR k.case_id = ANY($5::text[]))
  AND (k.case_id, k.stage) > ($6::text, $7::text)
ORDER BY k.case_id, k.stage
"""
_RAISED = """
SELECT a.case_id, a.stage, a.generation, a.due_at, a.kind, a.escalation_level
FROM alerts a
JOIN unnest($1::text[], $2::text[], $3::int[]) AS u(case_id, stage, generation)
  ON a.case_id = u.case_id AND a.stage = u.stage AND a.generation = u.generation
"""


@dataclass
class Report:
    changed: int = 0  # applied (or, in a dry run, that would be)
    skipped: int = 0
    busy: int = 0  # still held by a tracker instance after the last try: run again


Emit = Callable[[Change], None]


async def reapply(
    pool: asyncpg.Pool,
    policies: DeadlinePolicies,
    *,
    filters: Filters = Filters(),
    dry_run: bool,
    actor: str,
    reason: str,
    batch: int = 200,
    emit: Emit | None = None,
    busy_retries: int = 10,
    busy_wait: float = 0.5,
) -> Report:
    """Move the matching running clocks to the current version of their policy, `batch` clocks per
    transaction; `emit` is called with each change (after its batch committed) and each skip. Clocks a
    tracker instance holds are tried again, up to `busy_retries` times `busy_wait` seconds apart."""
    if batch < 1:
        raise ValueError("batch must be >= 1")
    run = _Run(pool, PolicyResolver(policies), filters, dry_run, actor, reason, batch, emit)
    for attempt in range(busy_retries + 1):
        await run.walk()
        if dry_run:
            break
        run.report.busy = await run.busy()
        if run.report.busy == 0 or attempt == busy_retries:
            break
        await asyncio.sleep(busy_wait)
    return run.report


@dataclass
class _Run:
    pool: asyncpg.Pool
    resolver: PolicyResolver  # its `policies`: the current versions the clocks move to
    filters: Filters
    dry_run: bool
    actor: str
    reason: str
    batch: int
    emit: Emit | None
    report: Report = field(default_factory=Report)
    skipped: set[tuple[str, str]] = field(default_factory=set)  # told once, not again in a later walk

    async def walk(self) -> None:
        """One walk over the candidates in key order, a transaction per batch."""
        after = ("", "")
        while True:
            async with self.pool.acquire() as conn, conn.transaction():
                now = datetime.now(UTC)
                rows = await _candidates(
                    conn, self.resolver.policies, self.filters, after, self.batch, lock=not self.dry_run
                )
                if not rows:
                    return
                after = (rows[-1]["case_id"], rows[-1]["stage"])
                changes = await _plan(conn, rows, self.resolver, now)
                if not self.dry_run:
                    await self._write(conn, rows, changes, now)
            for change in changes:
                self._tell(change)
            if len(rows) < self.batch:
                return

    async def _write(self, conn: Conn, rows: Sequence[asyncpg.Record], changes: list[Change], now: datetime) -> None:
        ruleset = {(r["case_id"], r["stage"]): r["case_ruleset_version"] for r in rows}
        writes = [(c.case_id, c.write) for c in changes if c.write is not None]
        audit = [
            audit_record(c, actor=self.actor, reason=self.reason, at=now, ruleset_version=ruleset[c.key])
            for c in changes
            if c.write is not None
        ]
        await store.write_clocks(conn, writes)
        await store.audit(conn, audit)

    def _tell(self, change: Change) -> None:
        if change.write is None:
            if change.key in self.skipped:
                return
            self.skipped.add(change.key)
            self.report.skipped += 1
        else:
            self.report.changed += 1
        if self.emit is not None:
            self.emit(change)

    async def busy(self) -> int:
        """Candidates left that were not skipped for a reason: held by a tracker instance meanwhile."""
        async with self.pool.acquire() as conn:
            rows = await _candidates(conn, self.resolver.policies, self.filters, ("", ""), None, lock=False)
        return sum(1 for row in rows if (row["case_id"], row["stage"]) not in self.skipped)


async def _candidates(
    conn: Conn,
    policies: DeadlinePolicies,
    filters: Filters,
    after: tuple[str, str],
    limit: int | None,
    *,
    lock: bool,
) -> Sequence[asyncpg.Record]:
    """Running clocks of open cases not at the current version of their policy, after `after` in key
    order; locked (skipping rows others hold) when `lock`."""
    query = _CANDIDATES
    if limit is not None:
        query += f" LIMIT {int(limit)}"
    if lock:
        query += " FOR UPDATE OF k SKIP LOCKED"
    names = list(policies.policies)
    return await conn.fetch(
        query,
        names,
        [policies.policies[n].version for n in names],
        filters.policy,
        filters.stage,
        list(filters.cases) if filters.cases is not None else None,
        *after,
    )


async def _plan(conn: Conn, rows: Sequence[asyncpg.Record], resolver: PolicyResolver, now: datetime) -> list[Change]:
    await store.known_policies(conn, resolver, {row["policy_version"] for row in rows})
    alerts = await conn.fetch(
        _RAISED,
        [r["case_id"] for r in rows],
        [r["stage"] for r in rows],
        [r["generation"] for r in rows],
    )
    raised = raised_levels(alerts)
    changes = []
    for row in rows:
        per_due = raised.get((row["case_id"], row["stage"], row["generation"]), {})
        changes.append(plan_clock(row, resolver, resolver.policies, now=now, raised=per_due))
    return changes


def describe(change: Change, now: datetime) -> str:
    """One line for the operator: case, stage, policy, version and due date before → after."""
    head = f"{change.case_id}  {change.stage:<17} {change.policy:<12} {_short(change.old_version)} → "
    if change.write is None:
        return f"{head}{'-':<16}  due {change.old_due_date.isoformat()}  skipped: {change.skipped}"
    notes = []
    if change.paused:
        notes.append("paused")
    if change.write.due_at != change.old_due_at and change.write.due_at < now and not change.paused:
        notes.append("overdue now")
    if change.write.alert_level != change.old_alert_level:
        notes.append(f"alert level {change.old_alert_level} → {change.write.alert_level}")
    tail = f"  ({', '.join(notes)})" if notes else ""
    return (
        f"{head}{_short(change.write.policy_version):<16}  "
        f"due {change.old_due_date.isoformat()} → {change.write.due_date.isoformat()}{tail}"
    )


def _short(version: str | None) -> str:
    """`sha256:0123456789abcdef` as `sha256:01234567` (enough to tell versions apart on screen)."""
    return (version or "-")[:15]
