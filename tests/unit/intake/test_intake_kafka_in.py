from __future__ import annotations

import json
from typing import Any

from intake_factories import ADDRESS, ID_NUMBER, NAME, PHONE, submission

from services.access.scopes import Client
from services.common.schemas import CHANNELS
from services.intake.kafka_in import Refused, Submitted, dead_letter_for, read_submitted

UPSTREAM = Client("erp", "upstream", frozenset(CHANNELS), ("150627",), ("150627",), sources=("erp/150627",))
LETTERS_ONLY = Client("post", "upstream", frozenset({"letter"}), ("150627",), sources=("post/*",))


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
    read = read_submitted(event(), UPSTREAM)
    assert isinstance(read, Submitted)
    assert (read.event_id, read.source, read.client) == ("evt-1", "erp/150627", UPSTREAM)
    assert read.submission.channel == "online"


def test_refusals_say_why() -> None:
    cases = {
        (b"\xff{", UPSTREAM): "envelope",
        (b"[]", UPSTREAM): "envelope",
        (event(id=""), UPSTREAM): "envelope",
        (event(type="case.received"), UPSTREAM): "envelope",
        (event(data=[1]), UPSTREAM): "envelope",
        (event(source="unknown/system"), UPSTREAM): "unknown_source",  # not one the signing client registered
        (event(source="intruder/anything"), LETTERS_ONLY): "unknown_source",
        (event(data=submission(people_count=0)), UPSTREAM): "invalid",
        (event(source="post/x"), LETTERS_ONLY): "forbidden",  # its channels do not include online
    }
    for (raw, client), reason in cases.items():
        read = read_submitted(raw, client)
        assert isinstance(read, Refused) and read.reason == reason, (raw[:40], read)
        assert read.describe()


def test_a_dead_letter_points_at_the_event_and_never_quotes_it() -> None:
    refused = read_submitted(event(data=submission(people_count=0)), UPSTREAM)
    assert isinstance(refused, Refused)
    letter = dead_letter_for(refused, topic="case.submitted", partition=3, offset=42, consumer="intake").data
    assert (letter.topic, letter.partition, letter.offset) == ("case.submitted", 3, 42)
    assert json.loads(letter.payload) == {"event_id": "evt-1", "source": "erp/150627", "reason": "invalid"}
    assert "people_count" in letter.reason
    text = letter.model_dump_json()
    for value in (ID_NUMBER, NAME, PHONE, ADDRESS):
        assert value not in text
