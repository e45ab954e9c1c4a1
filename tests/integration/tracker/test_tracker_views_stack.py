"""The period statistics views and the Prometheus metrics, on a known set of cases."""

from __future__ import annotations

import re
from datetime import date, datetime
from decimal import Decimal

import asyncpg
import httpx
from polling import eventually
from tracker_events import SHANGHAI, case_id, lifecycle, publish, received, routed

from services.common.settings import Settings

# Cases received in January 2025: nobody else's tests use that month.
PERIOD = (date(2025, 1, 1), date(2025, 3, 31))


def local(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=SHANGHAI)


async def forget_the_period(db: asyncpg.Connection) -> None:
    """Earlier sessions' cases of the period (the test stack's database outlives a session)."""
    old = [r["case_id"] for r in await db.fetch("SELECT case_id FROM cases WHERE received_at < '2025-04-01'")]
    for table in ("clocks", "alerts", "audit_log", "applied_events", "parked_events", "cases"):
        await db.execute(f"DELETE FROM {table} WHERE case_id = ANY($1::text[])", old)


async def test_period_statistics(tracker_stack: Settings, db: asyncpg.Connection) -> None:
    await forget_the_period(db)
    a, b, c, d, e, f = (case_id("STA") for _ in range(6))

    def route(case: str, day: str, **kw: object) -> list[object]:
        at = local(f"{day} 09:00")
        return [routed(case, at, local(f"{day} 10:00"), **kw)]  # type: ignore[arg-type]

    events = [
        # A: collective, first time; accepted, replied on time; review window lapses → settled.
        received(a, local("2025-01-06 09:00"), people=6),
        *route(a, "2025-01-06", flags=("first_time", "collective")),
        lifecycle(a, "accepted", local("2025-01-08 09:00")),
        lifecycle(a, "replied", local("2025-02-20 09:00")),
        # B: repeat; replied after its due (10 March); review requested → not settled.
        received(b, local("2025-01-07 09:00")),
        *route(b, "2025-01-07", flags=("repeat",)),
        lifecycle(b, "accepted", local("2025-01-07 11:00")),
        lifecycle(b, "replied", local("2025-03-20 09:00")),
        lifecycle(b, "review_requested", local("2025-03-25 09:00")),
        # C: not accepted (an answer all the same).
        received(c, local("2025-01-08 09:00")),
        *route(c, "2025-01-08"),
        lifecycle(c, "rejected", local("2025-01-10 09:00"), reason="不属于信访事项"),
        # D: diverted to the courts: not for handling.
        received(d, local("2025-01-09 09:00")),
        *route(d, "2025-01-09", disposition="divert_legal", flags=("first_time", "litigation")),
        # E: an assignment, skip-level; replied (and so reported) within the 10 days.
        received(e, local("2025-01-10 09:00"), assignment_days=10),
        *route(e, "2025-01-10", disposition="assign", policy="assignment", flags=("first_time", "skip_level")),
        lifecycle(e, "accepted", local("2025-01-11 09:00")),
        lifecycle(e, "replied", local("2025-01-15 09:00")),
        # F: accepted, never replied: backlog.
        received(f, local("2025-01-12 09:00")),
        *route(f, "2025-01-12"),
        lifecycle(f, "accepted", local("2025-01-13 09:00")),
    ]
    await publish(tracker_stack, events)  # type: ignore[arg-type]

    async def settled() -> bool:
        # A's and E's review windows lapsed long ago: the tracker concludes them itself.
        n = await db.fetchval("SELECT count(*) FROM cases WHERE case_id = ANY($1::text[]) AND closed", [a, c, d, e])
        return bool(n == 4)

    await eventually(settled, timeout=60, what="A, C, D and E closed")
    stats = dict(await db.fetchrow("SELECT * FROM period_statistics($1, $2)", *PERIOD))
    assert {k: v for k, v in stats.items() if not k.startswith("period")} == {
        "batches": 6,
        "person_times": 11,
        "first_time": 5,  # all but B
        "first_time_rate": Decimal("0.8333"),
        "repeat": 1,
        "repeat_rate": Decimal("0.1667"),
        "skip_level": 1,
        "skip_level_rate": Decimal("0.1667"),
        "collective": 1,
        "collective_rate": Decimal("0.1667"),
        "accepted": 4,  # A, B, E, F
        "accepted_replied": 3,
        "closure_rate": Decimal("0.7500"),
        "handle_due": 4,  # A 10 Mar (9 Mar a Sunday), B 10 Mar (8 Mar a Saturday), E 12 Mar, F 14 Mar
        "handle_due_met": 2,  # A, E
        "on_time_closure_rate": Decimal("0.5000"),
        "for_handling": 5,  # all but D
        "answered": 4,  # A, B, E replied; C told it is not accepted
        "reply_rate": Decimal("0.8000"),
        "replied": 3,
        "replied_decided": 3,
        "settled": 2,  # A, E
        "settle_rate": Decimal("0.6667"),
        "assignment_due": 1,
        "assignment_due_met": 1,
        "assignment_closure_rate": Decimal("1.0000"),
    }
    facts = {
        r["case_id"]: r for r in await db.fetch("SELECT * FROM case_facts WHERE case_id = ANY($1::text[])", [a, b, f])
    }
    assert facts[f]["backlog"] and not facts[a]["backlog"] and not facts[b]["backlog"]
    assert facts[a]["handle_due_date"] == date(2025, 3, 10) and facts[a]["settled"]
    volume = await db.fetch("SELECT * FROM daily_volume WHERE day = '2025-01-06'")
    assert [(r["batches"], r["person_times"], r["collective"]) for r in volume] == [(1, 6, 1)]
    flow = {r["day"]: r for r in await db.fetch("SELECT * FROM daily_flow WHERE day IN ('2025-03-10', '2025-01-15')")}
    assert (flow[date(2025, 3, 10)]["handle_due"], flow[date(2025, 3, 10)]["handle_due_met"]) == (2, 1)
    assert flow[date(2025, 1, 15)]["replied_on_time"] == 1
    running = await db.fetch("SELECT stage, status FROM running_deadlines WHERE case_id = $1", f)
    assert [(r["stage"], r["status"]) for r in running] == [("handle", "overdue")]


async def test_metrics_have_bounded_labels(tracker_stack: Settings) -> None:
    async with httpx.AsyncClient() as client:
        url = f"http://{tracker_stack.host}:{tracker_stack.tracker_port}/metrics"

        async def refreshed() -> str | None:
            text = (await client.get(url)).text
            return text if "xf_tracker_open_cases{" in text and "xf_tracker_consumer_lag{" in text else None

        text = await eventually(refreshed, timeout=40, what="gauges refreshed")
    for name in (
        "xf_tracker_events_applied_total",
        "xf_tracker_cases_received_total",
        "xf_tracker_running_clocks",
        "xf_tracker_overdue",
        "xf_tracker_backlog_cases",
        "xf_tracker_open_cases_by_unit",
        "xf_tracker_time_to_reply_seconds_bucket",
        "xf_tracker_consumer_lag",
    ):
        assert f"\n{name}" in text, name
    series = [line for line in text.splitlines() if line.startswith("xf_tracker") and "{" in line]
    assert series
    for line in series:
        labels = line[line.index("{") : line.index("}")]
        assert not re.search(r"XF[A-Z0-9]", labels), line  # no case ids
        assert not re.search(r'"\d{9}(\d{3})?:', labels), line  # no unit below county
