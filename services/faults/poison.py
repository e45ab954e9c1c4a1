"""Poison records: one of each kind on every topic a service consumes, each aimed where a consumer could choke.

Topics: the partners' (`case.submitted`, `case.lifecycle`, signed by a buggy partner so that they reach
the parser) and the services' (`case.received`, `case.routed`, `case.status`: a buggy service's records).
Kinds (issue 10, finding 1): JSON nested 100,000 deep (the whole record, and inside a field), an escaped
NUL in a string PostgreSQL would store, a number of 100,000 digits, bytes that are not UTF-8, a record of
600 KB (under the broker's limit, over a consumer's record limit), the schema-valid time
`9999-12-31T23:59:59-12:00` (year 10000 in UTC), and wrong types (a string for a number, a list for a
string). Apart from the one thing wrong, each is a well-formed event of its topic, so that it gets
as far into the consumer as it can. Every poison record names a case id of its own (`XFPOISON-…`):
no real case is touched, and the tally knows them by that prefix.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from services.common.topics import CASE_LIFECYCLE, CASE_RECEIVED, CASE_ROUTED, CASE_STATUS, CASE_SUBMITTED
from services.faults.send import Outgoing

PREFIX = "XFPOISON-"
FAR_FUTURE = "9999-12-31T23:59:59-12:00"
DEPTH = 100_000
DIGITS = 100_000
INPUT_TOPICS = (CASE_SUBMITTED.name, CASE_RECEIVED.name, CASE_ROUTED.name, CASE_LIFECYCLE.name, CASE_STATUS.name)


@dataclass(frozen=True)
class Poison:
    kind: str
    topic: str
    case_id: str
    record: Outgoing

    @property
    def name(self) -> str:
        return f"{self.topic}/{self.kind}"


def _time(delta_days: float = 0) -> str:
    return (datetime.now(UTC) - timedelta(days=3) + timedelta(days=delta_days)).isoformat()


def _data(topic: str, case_id: str, upstream_source: str) -> dict[str, Any]:
    """A valid body of the topic (what poison is made from)."""
    if topic == CASE_SUBMITTED.name:
        return {
            "channel": "letter",
            "received_by": "150627:petition",
            "category": "wage_arrears",
            "location": {"region": "150627107"},
            "petitioner": {"kind": "anonymous"},
            "people_count": 1,
            "litigation": "none",
            "summary": "拖欠工资。",
            "content": "拖欠工资。",
            "received_at": _time(),
        }
    if topic == CASE_RECEIVED.name:
        return {
            "case_id": case_id,
            "received_at": _time(),
            "channel": "letter",
            "received_by": "150627:petition",
            "category": "wage_arrears",
            "location": {"region": "150627107"},
            "petitioner_key": "p1_poison-000000",
            "people_count": 1,
        }
    if topic == CASE_ROUTED.name:
        return {
            "case_id": case_id,
            "received_event_id": f"{case_id}-received",
            "routed_at": _time(0.01),
            "received_at": _time(),
            "channel": "letter",
            "people_count": 1,
            "category": "wage_arrears",
            "region": "150627107",
            "decision": {
                "disposition": "forward",
                "handling_unit": "150627:hrss",
                "handling_level": "county",
                "deadline_policy": "standard",
                "trace": ["poison"],
                "ruleset_version": "sha256:poison",
            },
        }
    if topic == CASE_STATUS.name:
        return {
            "case_id": case_id,
            "version": 2,
            "stage": "routed",
            "status": "open",
            "closed": False,
            "handling_unit": "150627:hrss",
            "cause": {"event_id": f"{case_id}-routed", "type": "routed", "at": _time(0.01)},
        }
    return {
        "event_id": f"{case_id}-event",
        "case_id": case_id,
        "type": "extended",
        "at": _time(1),
        "actor": "150627:hrss",
        "days": 30,
        "reason": "需要补充调查",
        "approved_by": "150627:gov",
    }


def _envelope(topic: str, case_id: str, upstream_source: str) -> dict[str, Any]:
    submitted = topic == CASE_SUBMITTED.name
    return {
        "specversion": "1.0",
        "id": case_id if submitted else f"{case_id}-envelope",
        "type": "case.submitted" if submitted else topic,
        "source": upstream_source if submitted else "xinfang/faults-poison",
        "time": _time(),
        "caseid": "unassigned" if submitted else case_id,
        "data": _data(topic, case_id, upstream_source),
    }


# --- the corpus: one valid event in, one record per way of breaking a consumer out (tests/support/poison.py
# re-exports it for the consumers' own tests) --------------------------------------------------------------

DEEP = b"[" * DEPTH + b"]" * DEPTH
FAR_TIME = FAR_FUTURE
OVERSIZE_BYTES = 600 * 1024  # above services.common.kafka.RECORD_LIMITS, below what Kafka takes


def _set(body: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    body = copy.deepcopy(body)
    *parents, last = path.split(".")
    target: Any = body
    for name in parents:
        target = target[int(name)] if isinstance(target, list) else target[name]
    if isinstance(target, list):
        target[int(last)] = value
    else:
        target[last] = value
    return body


def _encode(body: dict[str, Any]) -> bytes:
    return json.dumps(body, ensure_ascii=False).encode()


def variants(good: dict[str, Any], *, text_field: str, number_field: str, time_field: str) -> dict[str, bytes]:
    """`text_field` holds a string, `number_field` a number and `time_field` a time in `good` (dotted paths)."""
    marker = "\u2603POISON\u2603"
    number_key = f'"{number_field.rsplit(".", 1)[-1]}": '.encode()
    with_marker = _encode(_set(good, text_field, marker))
    return {
        "deep": DEEP,
        "deep_field": with_marker.replace(json.dumps(marker, ensure_ascii=False).encode(), DEEP),
        "nul": _encode(_set(good, text_field, "a\u0000b")),
        "big_number": _encode(_set(good, number_field, 0)).replace(number_key + b"0", number_key + b"9" * DIGITS),
        "not_utf8": with_marker.replace("\u2603".encode(), b"\xff\xfe", 1),
        "oversize": _encode(_set(good, text_field, "x" * OVERSIZE_BYTES)),
        "far_time": _encode(_set(good, time_field, FAR_TIME)),
        "wrong_types": _encode(_set(_set(good, number_field, "many"), text_field, ["not", "a", "string"])),
    }


KINDS = ("deep", "deep_field", "nul", "big_number", "not_utf8", "oversize", "far_time", "wrong_types")
# (text field, number field, time field) of each topic's event in the campaign's templates
FIELDS = {
    CASE_SUBMITTED.name: ("data.summary", "data.people_count", "data.received_at"),
    CASE_RECEIVED.name: ("data.summary", "data.people_count", "data.received_at"),
    CASE_ROUTED.name: ("data.decision.trace.0", "data.people_count", "data.routed_at"),
    CASE_LIFECYCLE.name: ("data.reason", "data.days", "data.at"),
    CASE_STATUS.name: ("data.cause.event_id", "data.version", "data.cause.at"),
}


def poison_records(run: str, upstream_source: str, round_: int = 0) -> list[Poison]:
    """One record of every kind on every topic a service consumes."""
    found = []
    for topic in INPUT_TOPICS:
        text_field, number_field, time_field = FIELDS[topic]
        for kind in KINDS:
            case_id = f"{PREFIX}{run}-{round_}-{topic.split('.')[1]}-{kind}"
            good = _envelope(topic, case_id, upstream_source)
            value = variants(good, text_field=text_field, number_field=number_field, time_field=time_field)[kind]
            found.append(Poison(kind, topic, case_id, Outgoing(topic, value, key=case_id.encode())))
    return found
