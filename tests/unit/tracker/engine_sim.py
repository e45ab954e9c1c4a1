"""Drive the engine as the consumer does, with a dict in place of PostgreSQL.

`CaseSim.send(event)` decides, then writes the outcome the way store.py would (case columns merged,
clock rows replaced), and rebuilds clocks from those rows with `clock_from_row`, so a test sees the
same round trip through the row format as the service.
"""

from __future__ import annotations

import uuid
from dataclasses import fields
from datetime import datetime
from typing import Any

from tracker_helpers import local

from services.common.lifecycle import LifecycleEvent, parse_lifecycle
from services.common.schemas import Assignment, Decision, Disposition, Location, ReceivedCase, RoutedCase
from services.tracker.engine import Applied, CaseEvent, CaseRecord, Incoming, Outcome, decide
from services.tracker.records import SUPERSEDED, ClockWrite, PolicyResolver, StoredClock, clock_from_row

CASE = "XF150627-20260506-000001"


def received(
    at: str = "2026-05-06 09:00", *, assignment_days: int | None = None, received_by: str = "150627:petition"
) -> ReceivedCase:
    return ReceivedCase(
        case_id=CASE,
        received_at=local(at),
        channel="assignment" if assignment_days else "visit",
        received_by=received_by,
        category="wage_arrears",
        location=Location(region="150627107"),
        petitioner_key="p1_0123456789",
        assignment=Assignment(from_unit="150600:petition", due_days=assignment_days) if assignment_days else None,
    )


def routed(
    at: str = "2026-05-06 10:00",
    *,
    disposition: Disposition = "forward",
    unit: str = "150627:hrss",
    policy: str = "standard",
    hours: int | None = None,
    received_at: str = "2026-05-06 09:00",
) -> RoutedCase:
    return RoutedCase(
        case_id=CASE,
        received_event_id="r-1",
        routed_at=local(at),
        received_at=local(received_at),
        channel="visit",
        people_count=1,
        category="wage_arrears",
        region="150627107",
        decision=Decision(
            disposition=disposition,
            handling_unit=unit,
            handling_level="county",
            deadline_policy=policy,
            report_within_hours=hours,
            flags=["first_time"],
            trace=["t"],
            ruleset_version="sha256:rules",
        ),
    )


def ev(type_: str, at: str, *, event_id: str | None = None, **fields: Any) -> LifecycleEvent:
    return parse_lifecycle(
        {
            "event_id": event_id or str(uuid.uuid4()),
            "case_id": CASE,
            "type": type_,
            "at": local(at),
            "actor": "150627:hrss",
            **fields,
        }
    )


def incoming(body: CaseEvent, event_id: str | None = None) -> Incoming:
    if isinstance(body, ReceivedCase):
        return Incoming(
            event_id or str(uuid.uuid4()), body.case_id, "received", body.received_by, body.received_at, body
        )
    if isinstance(body, RoutedCase):
        return Incoming(event_id or str(uuid.uuid4()), body.case_id, "routed", "router", body.routed_at, body)
    return Incoming(body.event_id, body.case_id, body.type, body.actor, body.at, body)


def row_of(write: ClockWrite) -> dict[str, Any]:
    row = {f.name: getattr(write, f.name) for f in fields(write) if f.name != "clock"}
    return row


class CaseSim:
    def __init__(self, resolver: PolicyResolver) -> None:
        self.resolver = resolver
        self.row: dict[str, Any] | None = None
        self.clock_rows: dict[str, dict[str, Any]] = {}
        self.outcomes: list[Outcome] = []

    @property
    def record(self) -> CaseRecord | None:
        if self.row is None:
            return None
        clocks: dict[Any, StoredClock] = {}
        for stage, row in self.clock_rows.items():
            if row["outcome"] != SUPERSEDED:
                clocks[stage] = clock_from_row(row, self.resolver)
        return CaseRecord(dict(self.row), clocks)

    def decide(self, body: CaseEvent) -> Outcome:
        return decide(self.record, incoming(body), self.resolver)

    def send(self, body: CaseEvent) -> Outcome:
        outcome = self.decide(body)
        self.outcomes.append(outcome)
        if isinstance(outcome, Applied):
            self.row = dict(outcome.case) if outcome.new_case else {**(self.row or {}), **outcome.case}
            for stage in outcome.superseded:
                self.clock_rows[stage] = {**self.clock_rows[stage], "outcome": SUPERSEDED, "next_alert_at": None}
            for write in outcome.clocks:
                previous = self.clock_rows.get(write.stage)
                row = row_of(write)
                if previous is not None and previous["outcome"] == SUPERSEDED:
                    row["generation"] = previous["generation"] + 1  # as the upsert does
                self.clock_rows[write.stage] = row
        return outcome

    def run(self, *bodies: CaseEvent) -> CaseSim:
        for body in bodies:
            outcome = self.send(body)
            assert isinstance(outcome, Applied), outcome
        return self

    def clock(self, stage: str) -> dict[str, Any]:
        return self.clock_rows[stage]

    @property
    def stage(self) -> str:
        assert self.row is not None
        return str(self.row["stage"])

    def due(self, stage: str) -> str:
        return str(self.clock_rows[stage]["due_date"])


def at(text: str) -> datetime:
    return local(text)
