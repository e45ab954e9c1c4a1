"""Deciding a batch from what the store held (`accept.decide`): idempotency and same-matter history,
also between cases of one batch. The store's side is covered by the real-stack tests."""

from __future__ import annotations

from datetime import datetime

from intake_factories import make_id_number, person, submission

from services.common.schemas import History
from services.intake.accept import Accepted, Conflict, Request, Secrets, decide, prepare
from services.intake.privacy import Vault, open_personal
from services.intake.store import Snapshot, StoredCase
from services.intake.validation import validate_submission

SECRETS = Secrets(b"test-pseudonym-key-0123456789abcdef", Vault([("k1", b"k" * 32)]))


def request(now: datetime, key: str | None, **overrides: object) -> Request:
    return Request(validate_submission(submission(**overrides), now=now), "erp", key)


def empty(numbers: list[int]) -> Snapshot:
    return Snapshot(known={}, histories={}, numbers=numbers)


def test_a_batch_is_decided_case_by_case(now: datetime) -> None:
    requests = [
        request(now, "k1"),
        request(now, "k1"),
        request(now, "k1", people_count=2),
        request(now, None, channel="letter"),  # same petitioner, same matter, no key
        request(now, None, petitioner=person(id_number=make_id_number(seq="555"))),
    ]
    decided = decide([prepare(r, SECRETS) for r in requests], empty([42, 41, 43, 44, 45]), SECRETS)
    first, again, clash, letter, other = decided.outcomes
    assert first == Accepted("XF150627-20260506-000041", created=True)
    assert again == Accepted(first.case_id, created=False)
    assert clash == Conflict("k1", first.case_id)
    assert isinstance(letter, Accepted) and letter.case_id == "XF150627-20260506-000042"
    assert isinstance(other, Accepted) and other.created

    rows = {row["case_id"]: row for row in decided.rows}
    assert len(rows) == len(decided.events) == 3
    assert rows[letter.case_id]["history"] == {
        "prior_cases": 1,
        "open_case_id": first.case_id,
        "concluded": False,
        "open_case_overdue": False,
    }
    assert rows[letter.case_id]["merged_into"] == first.case_id
    assert rows[other.case_id]["history"]["prior_cases"] == 0
    assert rows[first.case_id]["idempotency_key"] == "erp:k1" and rows[letter.case_id]["idempotency_key"] is None
    event = decided.events[1]
    assert event.data.history.open_case_id == first.case_id and event.caseid == letter.case_id
    # The sealed personal data opens only under its own case id.
    assert open_personal(SECRETS.vault, rows[first.case_id]["personal"], case_id=first.case_id).content


def test_what_the_store_held_comes_first(now: datetime) -> None:
    resubmitted, fresh = request(now, "k9"), request(now, None, channel="phone")
    prepared = [prepare(resubmitted, SECRETS), prepare(fresh, SECRETS)]
    earlier = History(prior_cases=3, open_case_id="XF150627-20260101-000007", concluded=True)
    snapshot = Snapshot(
        known={"erp:k9": StoredCase("XF150627-20260101-000001", prepared[0].digest)},
        histories={prepared[1].matter_key: earlier},
        numbers=[100, 101],
    )
    decided = decide(prepared, snapshot, SECRETS)
    assert decided.outcomes[0] == Accepted("XF150627-20260101-000001", created=False)
    assert decided.outcomes[1] == Accepted("XF150627-20260506-000100", created=True)
    (row,) = decided.rows
    assert row["history"] == earlier.model_dump() and row["merged_into"] == earlier.open_case_id
