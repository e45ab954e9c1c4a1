from __future__ import annotations

import json
from typing import Any

from intake_factories import ADDRESS, ID_NUMBER, NAME, PHONE, submission

from services.common.schemas import CHANNELS
from services.intake.auth import Client
from services.intake.kafka_in import Refused, Submitted, dead_letter_for, read_lifecycle, read_submitted

UPSTREAM = Client("erp", "upstream", frozenset(CHANNELS), ("150627",), ("150627",), sources=("erp/150627",))
LETTERS_ONLY = Client("post", "upstream", frozenset({"letter"}), ("150627",), sources=("post/*",))
CLIENTS = [UPSTREAM, LETTERS_ONLY]


def event(data: Any = None, **fields: Any) -> bytes:
    envelope = {
        "specversion": "1.0",
        "id": "evt-1",
        "type": "case.submitted",
        "source": "erp/150627",
        "time": "2026-05-06T09:30:00+08:00",
        "data": submission(received_at="2026-05-06T09:30:00+08:00") if data is None else data,
        **fields,
    }
    return json.dumps(envelope, ensure_ascii=False).encode()


def test_a_valid_event_names_its_client_and_key() -> None:
    read = read_submitted(event(), CLIENTS)
    assert isinstance(read, Submitted)
    assert (read.event_id, read.source, read.client) == ("evt-1", "erp/150627", UPSTREAM)
    assert read.submission.channel == "online"


def test_refusals_say_why() -> None:
    cases = {
        b"\xff{": "envelope",
        b"[]": "envelope",
        event(id=""): "envelope",
        event(type="case.received"): "envelope",
        event(data=[1]): "envelope",
        event(source="unknown/system"): "unknown_source",
        event(data=submission(people_count=0)): "invalid",
        event(source="post/x"): "forbidden",
    }
    for raw, reason in cases.items():
        read = read_submitted(raw, CLIENTS)
        assert isinstance(read, Refused) and read.reason == reason, (raw[:40], read)
        assert read.describe()


def test_a_dead_letter_points_at_the_event_and_never_quotes_it() -> None:
    refused = read_submitted(event(data=submission(people_count=0)), CLIENTS)
    assert isinstance(refused, Refused)
    letter = dead_letter_for(refused, topic="case.submitted", partition=3, offset=42, consumer="intake").data
    assert (letter.topic, letter.partition, letter.offset) == ("case.submitted", 3, 42)
    assert json.loads(letter.payload) == {"event_id": "evt-1", "source": "erp/150627", "reason": "invalid"}
    assert "people_count" in letter.reason
    text = letter.model_dump_json()
    for value in (ID_NUMBER, NAME, PHONE, ADDRESS):
        assert value not in text


def test_lifecycle_events_are_read_from_an_envelope_or_bare() -> None:
    body = {"event_id": "e1", "case_id": "XF1", "type": "rereviewed", "at": "2026-07-01T09:00:00+08:00", "actor": "u"}
    enveloped = read_lifecycle(json.dumps({"type": "case.lifecycle", "data": body}).encode())
    bare = read_lifecycle(json.dumps(body).encode())
    assert enveloped is not None and bare is not None and enveloped == bare and bare.type == "rereviewed"
    assert read_lifecycle(b"nonsense") is None
    assert read_lifecycle(json.dumps({**body, "type": "teleported"}).encode()) is None
