"""Answers built from store rows (a record or any mapping with the columns of store.case_view /
store.list_cases); the paging cursor is services.common.paging."""

from __future__ import annotations

import json
from typing import Any, Protocol

from services.intake.api_models import CaseSummary, CaseView, HistoryView, RoutingView


class Row(Protocol):
    def __getitem__(self, key: str, /) -> Any: ...


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


def case_view(row: Row) -> CaseView:
    history = _json(row["history"])
    routing = None
    if row["disposition"] is not None:
        routing = RoutingView(
            routed_at=row["routed_at"],
            disposition=row["disposition"],
            handling_unit=row["handling_unit"],
            handling_level=row["handling_level"],
            co_units=list(row["co_units"] or ()),
            lead_leader=row["lead_leader"],
            urgency=row["urgency"],
            report_within_hours=row["report_within_hours"],
            flags=list(row["flags"] or ()),
            deadline_policy=row["deadline_policy"],
            trace=list(row["trace"] or ()),
            ruleset_version=row["ruleset_version"],
        )
    return CaseView(
        case_id=row["case_id"],
        received_at=row["received_at"],
        channel=row["channel"],
        category=row["category"],
        region=row["region"],
        received_by=row["received_by"],
        submitted_by=row["client"],
        people_count=row["people_count"],
        target_unit=row["target_unit"],
        litigation=row["litigation"],
        assignment=_json(row["assignment"]),
        summary=row["summary"],
        status=row["status"],
        stage=row["stage"],
        stage_at=row["stage_at"],
        handling_unit=row["current_unit"],
        merged_into=row["merged_into"],
        # Cases stored before intake kept their history have none to show.
        history=HistoryView(**history) if history else None,
        published_at=row["published_at"],
        routing=routing,
    )


def case_summary(row: Row) -> CaseSummary:
    return CaseSummary(
        case_id=row["case_id"],
        received_at=row["received_at"],
        channel=row["channel"],
        category=row["category"],
        region=row["region"],
        received_by=row["received_by"],
        handling_unit=row["handling_unit"],
        people_count=row["people_count"],
        status=row["status"],
        stage=row["stage"],
        merged_into=row["merged_into"],
        disposition=row["disposition"],
        urgency=row["urgency"],
        flags=list(row["flags"] or ()),
    )
