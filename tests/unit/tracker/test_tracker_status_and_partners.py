"""case.status as the tracker writes it and intake reads it, and which partner may act on which case."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import pytest
from engine_sim import CASE, CaseSim, ev, incoming, received, routed

from services.access.scopes import Client
from services.common.envelope import to_bytes
from services.common.lifecycle import LifecycleEvent
from services.intake.outcomes import StatusUnreadable, read_status
from services.tracker.deadlines import DeadlinePolicies
from services.tracker.engine import CaseEvent, CaseRecord
from services.tracker.partners import Signer, may_act
from services.tracker.records import PolicyResolver
from services.tracker.status import petition_status, status_event


@pytest.fixture
def sim(policies: DeadlinePolicies) -> CaseSim:
    return CaseSim(PolicyResolver(policies))


def stored(sim: CaseSim, version: int) -> CaseRecord:
    record = sim.record
    assert record is not None
    return CaseRecord({**record.row, "status_seq": version}, record.clocks)


def test_each_applied_event_tells_the_stage_the_unit_and_the_running_due_dates(sim: CaseSim) -> None:
    events: list[CaseEvent] = [received(), routed(), ev("accepted", "2026-05-08 09:00")]
    bodies = []
    for version, event in enumerate(events, 1):
        sim.run(event)
        envelope = status_event(stored(sim, version), incoming(event, event_id=f"e{version}"))
        assert envelope.caseid == CASE and envelope.type == "case.status"
        bodies.append(envelope.data)
    assert [(b.version, b.stage, b.cause.type, b.status) for b in bodies] == [
        (1, "received", "received", "open"),
        (2, "routed", "routed", "open"),
        (3, "accepted", "accepted", "open"),
    ]
    assert [d.stage for d in bodies[0].due] == ["route"] and bodies[0].routing is None
    routing = bodies[1].routing
    assert routing is not None and routing.decision.handling_unit == "150627:hrss" and bodies[2].routing is None
    assert bodies[2].handling_unit == "150627:hrss"
    assert [(d.stage, d.due_date) for d in bodies[2].due] == [("handle", date(2026, 7, 7))]


def test_the_same_event_gives_the_same_status_id_so_a_replayed_batch_repeats_it(sim: CaseSim) -> None:
    sim.run(received())
    first = status_event(stored(sim, 1), incoming(received(), event_id="r"))
    again = status_event(stored(sim, 1), incoming(received(), event_id="r"))
    assert first.id == again.id and first.data == again.data


def test_how_each_ending_reads_to_the_petitioner() -> None:
    assert petition_status("merged") == "merged"
    for stage in ("diverted", "redirected", "reject_concluded", "rejected", "withdrawn"):
        assert petition_status(stage) == "closed"
    assert petition_status("rereviewed") == petition_status("concluded") == "concluded"
    for stage in ("received", "routed", "delivered", "accepted", "replied", "review_requested"):
        assert petition_status(stage) == "open"


def test_intake_reads_a_status_event_only_within_bounds(sim: CaseSim) -> None:
    sim.run(received())
    good = to_bytes(status_event(stored(sim, 1), incoming(received(), event_id="r")))
    assert read_status(good).data.version == 1
    document = json.loads(good)
    refused = [
        b"[" * 100_000 + b"]" * 100_000,
        b"\xff",
        b"nonsense",
        json.dumps({**document, "type": "case.lifecycle"}).encode(),
        json.dumps({**document, "caseid": "XF-other"}).encode(),
        json.dumps({**document, "data": {**document["data"], "version": 0}}).encode(),
        json.dumps({**document, "data": {**document["data"], "stage": "x" * 100}}).encode(),
        json.dumps({**document, "data": {**cause_at(document, "9999-12-31T23:59:59-12:00")}}).encode(),
        json.dumps({**document, "data": {**cause_at(document, "0001-01-01T00:00:00+00:00")}}).encode(),
        # wrong types are refused, never coerced: "2" is not a version, "no" not a boolean
        json.dumps({**document, "data": {**document["data"], "version": "2"}}).encode(),
        json.dumps({**document, "data": {**document["data"], "closed": "no"}}).encode(),
        json.dumps({**document, "data": {**document["data"], "version": 1.0}}).encode(),
    ]
    for value in refused:
        with pytest.raises(StatusUnreadable):
            read_status(value)


def cause_at(document: dict[str, Any], at: str) -> dict[str, Any]:
    data: dict[str, Any] = document["data"]
    return {**data, "cause": {**data["cause"], "at": at}}


HRSS_COUNTY = Client("hrss-county", "upstream", submit_scope=("150627:hrss",))
HRSS_CITY = Client("hrss-city", "upstream", submit_scope=("150600:hrss",))
CITY_REGION = Client("city-all", "reception", submit_scope=("150600",))
OTHER_COUNTY = Client("dongsheng", "upstream", submit_scope=("150602",))
READER = Client("ops", "operator", read_scope=("150000",))


def allowed(sim: CaseSim, event: LifecycleEvent) -> set[str]:
    record = sim.record
    assert record is not None
    clients = (HRSS_COUNTY, HRSS_CITY, CITY_REGION, OTHER_COUNTY, READER)
    return {c.name for c in clients if may_act(Signer(c.name, c), event, record)}


def test_a_partner_acts_only_for_the_unit_that_must_act_and_supervisors_only_supervise(sim: CaseSim) -> None:
    sim.run(received(), routed())
    accepted = ev("accepted", "2026-05-08 09:00")
    assert allowed(sim, accepted) == {"hrss-county", "city-all"}  # a region entry covers the county's units
    assert allowed(sim, ev("withdrawn", "2026-05-08 09:00")) == {"hrss-county", "city-all"}
    # 督办: the level above (or the unit that routed it) sends the case elsewhere, never the unit itself.
    reassigned = ev("reassigned", "2026-05-08 09:00", unit="150627:civil")
    assert allowed(sim, reassigned) == {"hrss-city", "city-all"}
    sim.run(accepted)
    extended = ev("extended", "2026-05-09 09:00", days=30, reason="survey", approved_by="150600:hrss")
    assert allowed(sim, extended) == {"hrss-county", "hrss-city", "city-all"}
    assert may_act(Signer("xinfang/tracker"), extended, stored(sim, 4))  # the tracker's own events


def test_naming_oneself_the_reviewer_gives_no_authority(sim: CaseSim) -> None:
    sim.run(received(), routed(), ev("accepted", "2026-05-08 09:00"), ev("replied", "2026-05-20 09:00"))
    request = ev("review_requested", "2026-05-25 09:00", unit="150602:hrss")
    assert "dongsheng" not in allowed(sim, request)
    assert "hrss-city" in allowed(sim, request)  # the reviewing body by default: one level up
