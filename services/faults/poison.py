"""Poison records: one of each kind on every topic a service consumes, each aimed where a consumer could choke.

Topics: the partners' (`case.submitted`, `case.lifecycle`, signed by a buggy partner so that they reach
the parser) and the services' (`case.received`, `case.routed`, `case.status`: a buggy service's records).
Kinds (issue 10, finding 1): JSON nested 100,000 deep (the whole record, and inside a field), an escaped
NUL in a string PostgreSQL would store, a number of 100,000 digits, bytes that are not UTF-8, a record of
1,000,000 bytes (under the broker's limit, over any sane consumer's), the schema-valid time
`9999-12-31T23:59:59-12:00` (year 10000 in UTC), and wrong types (a string for a count, a number for an
id or a time). Apart from the one thing wrong, each is a well-formed event of its topic, so that it gets
as far into the consumer as it can. Every poison record names a case id of its own (`XFPOISON-…`):
no real case is touched, and the tally knows them by that prefix.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from services.common.topics import CASE_LIFECYCLE, CASE_RECEIVED, CASE_ROUTED, CASE_STATUS, CASE_SUBMITTED
from services.faults.send import Outgoing

PREFIX = "XFPOISON-"
FAR_FUTURE = "9999-12-31T23:59:59-12:00"
DEPTH = 100_000
DIGITS = 100_000
OVERSIZE = 1_000_000
INPUT_TOPICS = (CASE_SUBMITTED.name, CASE_RECEIVED.name, CASE_ROUTED.name, CASE_LIFECYCLE.name, CASE_STATUS.name)
# Placeholders replaced in the serialised bytes by what JSON encoders will not produce.
_HUGE, _BAD, _DEEP = "\x01huge", "\x01bad", "\x01deep"


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
        "type": "accepted",
        "at": _time(1),
        "actor": "150627:hrss",
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


def count_field(topic: str) -> str:
    return {CASE_LIFECYCLE.name: "at", CASE_STATUS.name: "version"}.get(topic, "people_count")


def _string_field(topic: str) -> str:
    """A string the consumer would store: the summary of a submission, the case id of an event."""
    return "summary" if topic == CASE_SUBMITTED.name else "case_id"


def _deep_whole(envelope: dict[str, Any], topic: str) -> bytes:
    return b"[" * DEPTH + b"]" * DEPTH


def _deep_in_field(envelope: dict[str, Any], topic: str) -> bytes:
    envelope["data"][_string_field(topic)] = _DEEP
    return _dump(envelope).replace(_token(_DEEP), b"[" * DEPTH + b"]" * DEPTH)


def _nul(envelope: dict[str, Any], topic: str) -> bytes:
    name = _string_field(topic)
    envelope["data"][name] = f"{envelope['data'][name]}\x00nul"
    if name == "case_id":
        envelope["caseid"] = envelope["data"]["case_id"]
    return _dump(envelope)


def _huge_number(envelope: dict[str, Any], topic: str) -> bytes:
    envelope["data"][count_field(topic)] = _HUGE
    return _dump(envelope).replace(_token(_HUGE), b"9" * DIGITS)


def _not_utf8(envelope: dict[str, Any], topic: str) -> bytes:
    envelope["data"][_string_field(topic)] = _BAD
    return _dump(envelope).replace(_token(_BAD), b'"\xff\xfe\xc0\xaf"')


def _oversize(envelope: dict[str, Any], topic: str) -> bytes:
    envelope["source"] = ""
    size = len(_dump(envelope))
    envelope["source"] = "x" * (OVERSIZE - size)
    return _dump(envelope)


def _far_future(envelope: dict[str, Any], topic: str) -> bytes:
    envelope["time"] = FAR_FUTURE
    for name in ("received_at", "routed_at", "at"):
        if name in envelope["data"]:
            envelope["data"][name] = FAR_FUTURE
    if "cause" in envelope["data"]:
        envelope["data"]["cause"]["at"] = FAR_FUTURE
    return _dump(envelope)


def _wrong_types(envelope: dict[str, Any], topic: str) -> bytes:
    data = envelope["data"]
    if topic == CASE_LIFECYCLE.name:
        data["at"] = 0
        data["event_id"] = 12345
    elif topic == CASE_STATUS.name:
        data["version"] = "2"
        data["closed"] = "no"
    else:
        data["people_count"] = "5"
        data["channel"] = 7
    if topic == CASE_ROUTED.name:
        data["decision"]["flags"] = "first_time"
    return _dump(envelope)


def _token(placeholder: str) -> bytes:
    """The placeholder as it stands in the serialised record (quoted and escaped)."""
    return json.dumps(placeholder).encode()


def _dump(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False).encode()


KINDS: dict[str, Callable[[dict[str, Any], str], bytes]] = {
    "deep_json": _deep_whole,
    "deep_in_field": _deep_in_field,
    "nul": _nul,
    "huge_number": _huge_number,
    "not_utf8": _not_utf8,
    "oversize": _oversize,
    "far_future_time": _far_future,
    "wrong_types": _wrong_types,
}


def poison_records(run: str, upstream_source: str, round_: int = 0) -> list[Poison]:
    """One record of every kind on every input topic."""
    found = []
    for topic in INPUT_TOPICS:
        for kind, make in KINDS.items():
            case_id = f"{PREFIX}{run}-{round_}-{topic.split('.')[1]}-{kind}"
            value = make(_envelope(topic, case_id, upstream_source), topic)
            found.append(Poison(kind, topic, case_id, Outgoing(topic, value, key=case_id.encode())))
    return found
