"""Records an adversary (or a buggy partner) puts on a topic: one per way of breaking a consumer.

The corpus is the fault campaign's (services.faults.poison.variants: one copy for both). Here are the
valid events the consumers' tests start from; `poison_records(good)` turns one (a JSON-ready dict) into
named records that every consumer must refuse and dead-letter without stopping: nesting 100,000 deep
(alone and inside a field), NUL in a string, a number of 100,000 digits, invalid UTF-8, a record larger
than a consumer reads, a time of 9999-12-31T23:59:59-12:00 (which cannot be expressed in UTC), and
wrong types.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from services.common.envelope import wrap
from services.common.lifecycle import LIFECYCLE_TYPE, LifecycleBody, parse_lifecycle
from services.common.schemas import Decision, Location, ReceivedCase, RoutedCase
from services.faults.poison import variants as poison_records
from services.intake.identity import id_number_check_char


def received_body(case_id: str, at: datetime) -> dict[str, Any]:
    """A valid `case.received` event, JSON-ready."""
    body = ReceivedCase(
        case_id=case_id,
        received_at=at,
        channel="visit",
        received_by="150627:petition",
        category="wage_arrears",
        location=Location(region="150627107"),
        petitioner_key="p1_poison-test-01",
        summary="某建筑工地拖欠农民工工资。",
    )
    return wrap(body, type="case.received", source="xinfang/intake", case_id=case_id).model_dump(mode="json")


def routed_body(case_id: str, at: datetime) -> dict[str, Any]:
    """A valid `case.routed` event, JSON-ready."""
    body = RoutedCase(
        case_id=case_id,
        received_event_id=str(uuid.uuid4()),
        routed_at=at,
        received_at=at,
        channel="visit",
        people_count=1,
        category="wage_arrears",
        region="150627107",
        decision=Decision(
            disposition="forward",
            handling_unit="150627:hrss",
            handling_level="county",
            deadline_policy="standard",
            trace=["poison-test"],
            ruleset_version="sha256:poison-test",
        ),
    )
    return wrap(body, type="case.routed", source="xinfang/router", case_id=case_id).model_dump(mode="json")


def lifecycle_body(case_id: str, at: datetime) -> dict[str, Any]:
    """A valid `case.lifecycle` event (`extended`: it has text and a number), JSON-ready."""
    event = parse_lifecycle(
        {
            "event_id": str(uuid.uuid4()),
            "case_id": case_id,
            "type": "extended",
            "at": at,
            "actor": "150627:hrss",
            "days": 30,
            "reason": "需要补充调查",
            "approved_by": "150627:gov",
        }
    )
    envelope = wrap(LifecycleBody(event), type=LIFECYCLE_TYPE, source="unit-system", case_id=case_id)
    return envelope.model_dump(mode="json")


# (text field, number field, time field) of each topic's event, for poison_records
FIELDS = {
    "case.submitted": ("data.summary", "data.people_count", "data.received_at"),
    "case.received": ("data.summary", "data.people_count", "data.received_at"),
    "case.routed": ("data.decision.trace.0", "data.people_count", "data.routed_at"),
    "case.lifecycle": ("data.reason", "data.days", "data.at"),
}


def poison_for(topic: str, good: dict[str, Any]) -> dict[str, bytes]:
    text_field, number_field, time_field = FIELDS[topic]
    return poison_records(good, text_field=text_field, number_field=number_field, time_field=time_field)


def submission(at: datetime, n: int) -> dict[str, Any]:
    """A valid intake submission (channel online), received at `at`; `n` varies the identity number."""
    first17 = f"150627{datetime(1980, 1, 1) + timedelta(days=n * 37):%Y%m%d}{n % 1000:03d}"
    return {
        "channel": "online",
        "received_by": "150627:petition",
        "category": "wage_arrears",
        "location": {"region": "150627107", "address": "札萨克镇某工地宿舍"},
        "petitioner": {"kind": "person", "name": "测试丙", "id_number": first17 + id_number_check_char(first17)},
        "people_count": 1,
        "litigation": "none",
        "summary": "某建筑工地拖欠农民工工资约三个月。",
        "content": "反映工资被拖欠。",
        "received_at": at.isoformat(),
    }
