"""What units read: a case with its deadlines, and a unit's open cases (its own and its subtree's).

Statuses are computed at the moment of the request with the same `Clock` code as `xf deadlines`
(a paused clock's due date keeps moving while it is paused). Only what a unit needs is shown: no
petitioner data exists in the tracker at all.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime
from typing import Any, Literal

import asyncpg
from pydantic import BaseModel, ConfigDict, Field

from services.access.scopes import UnitFilter
from services.common.db import Conn
from services.common.schemas import Channel, Disposition, Flag, Level, Urgency
from services.tracker import store
from services.tracker.clock import Status
from services.tracker.records import SUPERSEDED, PolicyResolver, Row, clock_from_row
from services.tracker.timeline import StageStatus

NO_DEADLINE = datetime(9999, 12, 31, tzinfo=UTC)  # sorts cases without a running deadline last


class _Answer(BaseModel):
    model_config = ConfigDict(frozen=True)


class Deadline(_Answer):
    stage: str = Field(description="route, accept, handle, review_window, review, rereview_window, rereview, …")
    unit: str | None = Field(
        description="须办理该环节的单位（申请期为空）/ The unit that must act (none in a petitioner window)."
    )
    started_at: datetime
    due_date: date = Field(description="最后一天（当地日期）/ The last day, local date.")
    due_at: datetime = Field(description="截止时刻：最后一天结束 / The end of the last day.")
    completed_at: datetime | None
    status: Status
    escalation_level: int = Field(
        description="0 未超期；1 已督办上一级；2 再上一级 … / 0 before the breach; 1 supervising unit; …"
    )
    extended_days: int
    paused_since: datetime | None
    policy: str
    policy_version: str


class CaseDeadlines(_Answer):
    case_id: str
    stage: str = Field(description="received, routed, delivered, accepted, replied, review_requested, … concluded")
    stage_since: datetime | None
    closed: bool
    outcome: str | None
    received_at: datetime
    channel: Channel
    category: str
    region: str
    people_count: int
    received_by: str | None
    disposition: Disposition | None
    handling_unit: str | None
    handling_level: Level | None
    co_units: list[str]
    review_unit: str | None
    rereview_unit: str | None
    lead_leader: str | None
    urgency: Urgency | None
    flags: list[Flag]
    deadline_policy: str | None
    deadlines: list[Deadline]


class UnitCases(_Answer):
    unit: str
    subtree: bool
    at: datetime = Field(description="统计时刻 / The instant the statuses are computed at.")
    cases: list[CaseDeadlines] = Field(description="未办结的件，最近截止的在前 / Open cases, nearest deadline first.")
    next_cursor: str | None


class ActionAnswer(_Answer):
    event_id: str
    case_id: str
    type: str = Field(description="发布的办理事件类型 / The lifecycle event type published.")
    status: Literal["published", "applied", "held", "refused", "duplicate"] = Field(
        description="published：已校验并发布（202），随后记入；其余：同一幂等键此前的处理结果（200）/ "
        "published: checked against the case and published (202), applied shortly after; otherwise what "
        "became of the same Idempotency-Key before (200)."
    )
    stage: str | None = Field(default=None, description="记入后的环节 / The case's stage once applied.")


def deadlines(rows: Sequence[Row], resolver: PolicyResolver, at: datetime) -> list[Deadline]:
    found = []
    for row in rows:
        clock = clock_from_row(row, resolver).clock
        evaluated = StageStatus.of(clock, at)  # as `xf deadlines` evaluates it
        found.append(
            Deadline(
                stage=evaluated.stage,
                unit=row["unit"],
                started_at=evaluated.started_at,
                due_date=evaluated.due_date,
                due_at=evaluated.due_at,
                completed_at=evaluated.completed_at,
                status=evaluated.status,
                escalation_level=evaluated.escalation_level,
                extended_days=clock.extension_days,
                paused_since=row["paused_since"],
                policy=clock.policy.name,
                policy_version=clock.policy.version,
            )
        )
    return sorted(found, key=lambda d: d.started_at)


def case_view(row: Row, clocks: Sequence[Deadline]) -> CaseDeadlines:
    return CaseDeadlines(
        case_id=row["case_id"],
        stage=row["stage"],
        stage_since=row.get("stage_since"),
        closed=row["closed"],
        outcome=row.get("outcome"),
        received_at=row["received_at"],
        channel=row["channel"],
        category=row["category"],
        region=row["region"],
        people_count=row["people_count"],
        received_by=row.get("received_by"),
        disposition=row.get("disposition"),
        handling_unit=row.get("handling_unit"),
        handling_level=row.get("handling_level"),
        co_units=list(row.get("co_units") or ()),
        review_unit=row.get("review_unit"),
        rereview_unit=row.get("rereview_unit"),
        lead_leader=row.get("lead_leader"),
        urgency=row.get("urgency"),
        flags=list(row.get("flags") or ()),
        deadline_policy=row.get("deadline_policy"),
        deadlines=list(clocks),
    )


async def clocks_of(
    conn: Conn, case_ids: Sequence[str], resolver: PolicyResolver, *, running_only: bool
) -> dict[str, list[asyncpg.Record]]:
    rows = await conn.fetch(
        """SELECT * FROM clocks WHERE case_id = ANY($1::text[]) AND outcome IS DISTINCT FROM $2
             AND ($3 = false OR completed_at IS NULL)""",
        list(case_ids),
        SUPERSEDED,
        running_only,
    )
    found: dict[str, list[asyncpg.Record]] = {}
    await store.known_policies(conn, resolver, {row["policy_version"] for row in rows})
    for row in rows:
        found.setdefault(row["case_id"], []).append(row)
    return found


# The unit that has the case now: before routing the receiving unit, then the handling unit.
_UNIT_COLUMNS = ("coalesce(c.handling_unit, c.received_by)", "c.review_unit", "c.rereview_unit")
_MATCH_SUBTREE = "(({col} LIKE $1) AND ($2::text IS NULL OR split_part({col}, ':', 2) = $2))"


def unit_condition(unit_filter: UnitFilter) -> tuple[str, list[Any]]:
    """The cases a unit (or its subtree) has now: handles, helps handle, reviews, or has not routed yet.

    Same filter semantics as intake's listing (services.access.scopes.subtree_filter).
    """
    if unit_filter.prefix is None:
        exact = " OR ".join(f"{col} = $1" for col in _UNIT_COLUMNS)
        return f"(({exact} OR c.co_units @> ARRAY[$1::text]) AND $2::text IS NULL)", [unit_filter.unit, None]
    parts = [_MATCH_SUBTREE.format(col=col) for col in _UNIT_COLUMNS]
    parts.append(f"EXISTS (SELECT 1 FROM unnest(c.co_units) AS u WHERE {_MATCH_SUBTREE.format(col='u')})")
    return "(" + " OR ".join(parts) + ")", [unit_filter.prefix + "%", unit_filter.department]


async def open_cases(
    conn: Conn, unit_filter: UnitFilter, *, limit: int, after: tuple[datetime, str] | None
) -> list[asyncpg.Record]:
    """A unit's open cases, nearest running deadline first; `after` is the last (next_due, case_id) seen."""
    condition, params = unit_condition(unit_filter)
    rows: list[asyncpg.Record] = await conn.fetch(
        f"""SELECT c.*, coalesce(n.next_due, $5::timestamptz) AS next_due
            FROM cases c
            LEFT JOIN LATERAL (SELECT min(k.due_at) AS next_due FROM clocks k
                               WHERE k.case_id = c.case_id AND k.completed_at IS NULL AND k.unit IS NOT NULL) n ON true
            WHERE NOT c.closed AND {condition}
              AND ($3::timestamptz IS NULL OR (coalesce(n.next_due, $5::timestamptz), c.case_id) > ($3, $4::text))
            ORDER BY coalesce(n.next_due, $5::timestamptz), c.case_id
            LIMIT $6""",
        *params,
        after[0] if after else None,
        after[1] if after else None,
        NO_DEADLINE,
        limit,
    )
    return rows
