"""Stage clocks as the tracker stores them: a `Clock` plus what the scanner and the read model need.

A clock row keeps its policy snapshot (so a running clock keeps the policy it started with across
rule changes), its pauses and extensions, and derived columns: the due date as of now, the warning
instant, and `next_alert_at`, the instant its next alert threshold is reached (NULL when completed,
paused or nothing is left), which is the only column the scanner searches.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import asyncpg

from services.tracker import alerting
from services.tracker.clock import Clock, Extension, Pause
from services.tracker.policy import DeadlinePolicies, DeadlinePolicy, Stage

SUPERSEDED = "superseded"  # outcome of a clock dropped by a reassignment
Row = Mapping[str, Any] | asyncpg.Record


class PolicyResolver:
    """Today's policies by name, and running clocks' policies rebuilt from their snapshots (cached)."""

    def __init__(self, policies: DeadlinePolicies) -> None:
        self.policies = policies
        self._snapshots: dict[str, DeadlinePolicy] = {}

    def use(self, policies: DeadlinePolicies) -> None:
        """Today's policies from now on (a reloaded rule file): new clocks start under them. Stored
        versions are rebuilt again when next needed, with the new file's calendar and timezone."""
        self.policies = policies
        self._snapshots = {}

    def named(self, name: str) -> DeadlinePolicy:
        return self.policies.get(name)

    def knows(self, version: str) -> bool:
        return version in self._snapshots or any(p.version == version for p in self.policies.policies.values())

    def register(self, snapshot: Mapping[str, Any]) -> DeadlinePolicy:
        """Rebuild a stored policy version (checked against its hash) and remember it."""
        version = str(snapshot["version"])
        cached = self._snapshots.get(version)
        if cached is None:
            cached = self._snapshots[version] = self.policies.from_snapshot(snapshot)
        return cached

    def version(self, version: str, name: str) -> DeadlinePolicy:
        """The policy a running clock started with: by its version, else (never stored) today's `name`."""
        cached = self._snapshots.get(version)
        if cached is not None:
            return cached
        for policy in self.policies.policies.values():
            if policy.version == version:
                self._snapshots[version] = policy
                return policy
        return self.policies.get(name)


@dataclass(frozen=True)
class StoredClock:
    """A clock as loaded: the clock itself and its bookkeeping."""

    clock: Clock
    generation: int
    unit: str | None
    alert_level: int
    due_at: datetime


@dataclass(frozen=True)
class ClockWrite:
    """Every column of one clock row, ready to upsert."""

    stage: Stage
    generation: int
    policy: str
    policy_version: str
    policy_snapshot: dict[str, Any]
    started_at: datetime
    limit_value: int | None
    pauses: list[dict[str, Any]]
    extensions: list[dict[str, Any]]
    completed_at: datetime | None
    due_date: date
    due_at: datetime
    warn_at: datetime
    paused_since: datetime | None
    paused_total: timedelta
    extended_days: int
    unit: str | None
    alert_level: int
    next_alert_at: datetime | None
    outcome: str | None
    escalation_levels: int
    breach_window: timedelta
    clock: Clock = field(compare=False, repr=False)  # what the row was computed from (not a column)

    def stored(self) -> StoredClock:
        return StoredClock(self.clock, self.generation, self.unit, self.alert_level, self.due_at)


def clock_write(clock: Clock, *, generation: int, unit: str | None, alert_level: int) -> ClockWrite:
    """The row for `clock`. A paused clock's due is as of its pause (it moves again on resume)."""
    open_pause = clock.pauses[-1] if clock.pauses and clock.pauses[-1].ended_at is None else None
    due = clock.due(open_pause.started_at) if open_pause is not None else clock.due()
    warn = clock.warning_from(due)
    levels, breach_window = clock.settings.escalation.levels, clock.breach_window
    thresholds = alerting.schedule(
        is_window=clock.is_window,
        warn_at=warn,
        due_at=due.due_at,
        levels=levels,
        breach_window=breach_window,
    )
    running = clock.completed_at is None and open_pause is None
    outcome = None
    if clock.completed_at is not None:
        outcome = "met" if clock.completed_at <= due.due_at else "late"
    closed_pause_total = sum((p.duration(p.ended_at) for p in clock.pauses if p.ended_at), timedelta(0))
    return ClockWrite(
        stage=clock.stage,
        generation=generation,
        policy=clock.policy.name,
        policy_version=clock.policy.version,
        policy_snapshot=_snapshot(clock.policy),
        started_at=clock.started_at,
        limit_value=clock.limit,
        pauses=[_pause_json(p) for p in clock.pauses],
        extensions=[_extension_json(e) for e in clock.extensions],
        completed_at=clock.completed_at,
        due_date=due.due_date,
        due_at=due.due_at,
        warn_at=warn or due.due_at,
        paused_since=open_pause.started_at if open_pause is not None else None,
        paused_total=closed_pause_total,
        extended_days=clock.extension_days,
        unit=unit,
        alert_level=alert_level,
        next_alert_at=alerting.next_alert_at(thresholds, alert_level) if running else None,
        outcome=outcome,
        escalation_levels=levels,
        breach_window=breach_window,
        clock=clock,
    )


_SNAPSHOTS: dict[str, dict[str, Any]] = {}


def _snapshot(policy: DeadlinePolicy) -> dict[str, Any]:
    """A policy version's snapshot, built once (every clock under that version stores the same)."""
    snapshot = _SNAPSHOTS.get(policy.version)
    if snapshot is None:
        snapshot = _SNAPSHOTS[policy.version] = policy.snapshot()
    return snapshot


def clock_from_row(row: Row, resolver: PolicyResolver) -> StoredClock:
    snapshot = _json(row["policy_snapshot"])  # only on rows written before migration 004
    policy = resolver.register(snapshot) if snapshot else resolver.version(row["policy_version"], row["policy"])
    clock = Clock(
        stage=row["stage"],
        started_at=row["started_at"],
        policy=policy,
        limit=row["limit_value"],
        pauses=tuple(_pause(p) for p in _json(row["pauses"]) or []),
        extensions=tuple(_extension(e) for e in _json(row["extensions"]) or []),
        completed_at=row["completed_at"],
    )
    return StoredClock(clock, row["generation"], row["unit"], row["alert_level"], row["due_at"])


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


def _pause_json(pause: Pause) -> dict[str, Any]:
    return {
        "started_at": pause.started_at.isoformat(),
        "reason": pause.reason,
        "ended_at": pause.ended_at.isoformat() if pause.ended_at else None,
    }


def _pause(data: Mapping[str, Any]) -> Pause:
    ended = data.get("ended_at")
    return Pause(
        datetime.fromisoformat(data["started_at"]),
        data["reason"],
        datetime.fromisoformat(ended) if ended else None,
    )


def _extension_json(ext: Extension) -> dict[str, Any]:
    return {"days": ext.days, "reason": ext.reason, "approved_by": ext.approved_by, "at": ext.at.isoformat()}


def _extension(data: Mapping[str, Any]) -> Extension:
    return Extension(data["days"], data["reason"], data["approved_by"], datetime.fromisoformat(data["at"]))
