"""Every consumer's reading of a record refuses each poison record (tests/support/poison.py) without
raising, and still reads the good event it was made from."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from poison import lifecycle_body, poison_for, received_body, routed_body

from services.access.scopes import Client
from services.common.schemas import CHANNELS
from services.intake.kafka_in import Refused, Submitted, read_submitted
from services.intake.outcomes import StatusUnreadable, read_status
from services.router.pipeline import Malformed as RouterMalformed
from services.router.pipeline import parse_received
from services.tracker.consumer import Malformed, parse

AT = datetime.now(UTC) - timedelta(days=3)
UPSTREAM = Client("erp", "upstream", frozenset(CHANNELS), ("150627",), ("150627",), sources=("erp/150627",))


def submitted_body() -> dict[str, Any]:
    from intake_factories import submission  # tests/unit/intake, on the path when the intake tests are

    return {
        "specversion": "1.0",
        "id": "evt-poison-1",
        "type": "case.submitted",
        "source": "erp/150627",
        "time": AT.isoformat(),
        "data": submission(received_at=AT.isoformat()),
    }


GOOD = {
    "case.received": received_body("XF-POISON-1", AT),
    "case.routed": routed_body("XF-POISON-1", AT),
    "case.lifecycle": lifecycle_body("XF-POISON-1", AT),
}
CASES = [(topic, name, value) for topic, good in GOOD.items() for name, value in poison_for(topic, good).items()]


def ids(case: tuple[str, str, bytes]) -> str:
    return f"{case[0]}-{case[1]}"


@pytest.mark.parametrize("case", CASES, ids=ids)
def test_the_tracker_refuses_each_poison_record(case: tuple[str, str, bytes]) -> None:
    topic, _, value = case
    refused = parse(topic, value)
    assert isinstance(refused, Malformed) and refused.reason
    assert not isinstance(parse(topic, json.dumps(GOOD[topic]).encode()), Malformed)


@pytest.mark.parametrize("case", [c for c in CASES if c[0] == "case.received"], ids=ids)
def test_the_router_refuses_each_poison_record(case: tuple[str, str, bytes]) -> None:
    refused = parse_received(case[2])
    assert isinstance(refused, RouterMalformed) and refused.reason
    assert not isinstance(parse_received(json.dumps(GOOD["case.received"]).encode()), RouterMalformed)


@pytest.mark.parametrize("case", [c for c in CASES if c[0] != "case.received"], ids=ids)
def test_intakes_status_reading_refuses_each_poison_record(case: tuple[str, str, bytes]) -> None:
    """Intake reads only the tracker's case.status; whatever else reaches it is refused, never raised past it."""
    with pytest.raises(StatusUnreadable):
        read_status(case[2])


def test_intake_refuses_each_poison_submission(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(__import__("pathlib").Path(__file__).parents[1] / "intake"))
    good = submitted_body()
    assert isinstance(read_submitted(json.dumps(good).encode(), UPSTREAM), Submitted)
    for name, value in poison_for("case.submitted", good).items():
        refused = read_submitted(value, UPSTREAM)
        assert isinstance(refused, Refused), name
        assert refused.describe(), name


def test_a_far_time_is_refused_by_the_schema_naming_the_field() -> None:
    refused = parse("case.routed", poison_for("case.routed", GOOD["case.routed"])["far_time"])
    assert isinstance(refused, Malformed) and "data.routed_at" in refused.reason and "UTC" in refused.reason
