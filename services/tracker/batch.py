"""One consumed batch as a unit of work: read once, decide in memory, write once.

Inside the batch's transaction it locks the batch's cases, reads what was handled before, the cases
and their clocks and which cases have parked events, in four statements whatever the batch size.
The consumer then decides event after event against the records held here (each applied outcome
advances the in-memory record exactly as a reload would), and `flush` writes cases, clocks, handled
events, audit records and parked events with one pipelined statement each, in the order they happened.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from services.common.db import Conn
from services.tracker import store
from services.tracker.engine import Applied, CaseRecord, advanced
from services.tracker.policy import Stage
from services.tracker.records import SUPERSEDED, ClockWrite, PolicyResolver, Row, clock_write


@dataclass(frozen=True)
class Parked:
    event_id: str
    case_id: str
    topic: str
    type: str
    at: datetime
    payload: bytes
    reason: str
    parked_at: datetime | None = None  # None while it is parked by this batch only
    partner: str | None = None  # who signed it (services.common.signing), authorised when it applies


class CaseBatch:
    def __init__(self, conn: Conn, resolver: PolicyResolver) -> None:
        self.conn = conn
        self.resolver = resolver
        self.seen: dict[str, str] = {}
        self.records: dict[str, CaseRecord | None] = {}
        self._parked_cases: set[str] = set()
        self._parked: dict[str, dict[str, Parked]] = {}  # case → event id → parked event
        self._parked_loaded: set[str] = set()  # cases whose stored parked events were read
        self._touched: dict[str, CaseRecord] = {}
        self._clock_writes: list[tuple[str, ClockWrite]] = []
        self._handled: list[tuple[str, str, str, str]] = []
        self._audit: list[dict[str, Any]] = []
        self._new_parked: dict[str, Parked] = {}
        self._unparked: list[str] = []

    async def load(self, event_ids: Iterable[str], case_ids: Iterable[str]) -> None:
        cases = sorted(set(case_ids))
        await store.lock_cases(self.conn, cases)
        self.seen = await store.seen(self.conn, list(event_ids))
        loaded = await store.load_cases(self.conn, cases, self.resolver)
        self.records = {case_id: loaded.get(case_id) for case_id in cases}
        self._parked_cases = await store.cases_with_parked(self.conn, cases)

    def record(self, case_id: str) -> CaseRecord | None:
        return self.records.get(case_id)

    def apply(self, case_id: str, at: datetime, applied: Applied) -> CaseRecord:
        before = self.records.get(case_id)
        if before is not None:
            for stage in applied.superseded:
                self._clock_writes.append((case_id, _superseded(before, stage, at)))
        after = advanced(before, applied)
        # One more event applied: the version of the case.status it causes.
        sequence = 1 if before is None or applied.new_case else int(before.row.get("status_seq") or 0) + 1
        after = CaseRecord({**after.row, "status_seq": sequence}, after.clocks)
        self.records[case_id] = after
        self._touched[case_id] = after
        self._clock_writes.extend((case_id, write) for write in applied.clocks)
        return after

    def handled(self, event_id: str, case_id: str, event_type: str, outcome: str) -> None:
        self.seen[event_id] = outcome
        self._handled.append((event_id, case_id, event_type, outcome))

    def audit(self, **row: Any) -> None:
        self._audit.append(row)

    def park(self, event: Parked) -> None:
        self.seen[event.event_id] = "held"
        self._new_parked[event.event_id] = event
        self._parked_cases.add(event.case_id)
        self._parked.setdefault(event.case_id, {})[event.event_id] = event

    async def parked(self, case_id: str) -> list[Parked]:
        """The case's parked events (locked), oldest business time first."""
        if case_id not in self._parked_cases:
            return []
        known = self._parked.setdefault(case_id, {})
        if case_id not in self._parked_loaded:
            self._parked_loaded.add(case_id)
            for row in await store.parked_for(self.conn, case_id):
                if row["event_id"] not in known and row["event_id"] not in self._unparked:
                    known[row["event_id"]] = _parked(row)
        return sorted(known.values(), key=lambda p: (p.at, p.event_id))

    def unpark(self, event: Parked) -> None:
        self._parked.get(event.case_id, {}).pop(event.event_id, None)
        if self._new_parked.pop(event.event_id, None) is None:
            self._unparked.append(event.event_id)

    async def flush(self) -> None:
        await store.write_cases(self.conn, (record.row for record in self._touched.values()))
        await store.write_clocks(self.conn, self._clock_writes)
        await store.record_handled(self.conn, self._handled)
        await store.audit(self.conn, self._audit)
        await store.park(self.conn, (vars(p) for p in self._new_parked.values()))
        await store.unpark(self.conn, self._unparked)


def _superseded(record: CaseRecord, stage: Stage, at: datetime) -> ClockWrite:
    """The row of a clock dropped by a reassignment: kept, marked superseded, silent."""
    stored = record.clocks[stage]
    write = clock_write(stored.clock, generation=stored.generation, unit=stored.unit, alert_level=stored.alert_level)
    return replace(write, outcome=SUPERSEDED, completed_at=stored.clock.completed_at or at, next_alert_at=None)


def _parked(row: Row) -> Parked:
    return Parked(
        row["event_id"], row["case_id"], row["topic"], row["type"], row["at"], bytes(row["payload"]), row["reason"],
        row["parked_at"], row.get("partner"),
    )  # fmt: skip
