"""Accepting validated submissions: one transaction stores the cases and their outgoing events.

Plain functions over a connection, shared by the HTTP API (one case or a batch) and the Kafka
consumer (a batch of records). Inside the transaction, in this order:

1. advisory locks on every idempotency key and every matter of the batch, taken in one sorted
   order (two batches never wait on each other in a cycle): a resubmission racing its original,
   or a letter and a visit on the same matter arriving at once, are serialised;
2. idempotency: a key seen before (in the store or earlier in this batch) answers with its case,
   or with a conflict when the body differs; never a second case;
3. same-matter history (docs/domain.md §5.1): what the store holds, plus the cases earlier in this batch;
4. case numbers from the shared sequence, the case rows (personal data sealed), the outbox events.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from services.common.db import Conn
from services.common.envelope import Envelope, deterministic_id, wrap
from services.common.schemas import History, ReceivedCase
from services.common.topics import CASE_RECEIVED
from services.intake import store
from services.intake.case_numbers import DEFAULT_TIMEZONE, case_number_for
from services.intake.matter import matter_key_of, to_received_case
from services.intake.outbox import WAKE_RELAYS, outbox_row
from services.intake.privacy import Vault, petitioner_key, seal_personal
from services.intake.submission import Submission

SOURCE = "xinfang/intake"


@dataclass(frozen=True)
class Secrets:
    pseudonym_key: bytes
    vault: Vault
    timezone: str = DEFAULT_TIMEZONE


@dataclass(frozen=True)
class Request:
    submission: Submission
    client: str  # the client's name: scopes its idempotency keys and is recorded with the case
    idempotency_key: str | None = None


@dataclass(frozen=True)
class Accepted:
    case_id: str
    created: bool  # False when the idempotency key named a case accepted before


@dataclass(frozen=True)
class Conflict:
    """The idempotency key was used before for a different submission."""

    idempotency_key: str
    case_id: str


Outcome = Accepted | Conflict


def request_hash(submission: Submission) -> str:
    # A received_at we filled in ourselves differs on every resubmission: leave it out.
    defaulted = set() if "received_at" in submission.model_fields_set else {"received_at"}
    canonical = submission.model_dump_json(exclude=defaulted)
    return hashlib.sha256(canonical.encode()).hexdigest()


def received_event_id(case_id: str) -> str:
    """A case has exactly one `case.received`: its id follows from the case id."""
    return deterministic_id("case.received", case_id)


@dataclass(frozen=True)
class Prepared:
    request: Request
    digest: str
    scoped_key: str | None
    petitioner_key: str
    matter_key: str


def prepare(request: Request, secrets: Secrets) -> Prepared:
    submission = request.submission
    key = petitioner_key(secrets.pseudonym_key, submission.petitioner)
    return Prepared(
        request=request,
        digest=request_hash(submission),
        scoped_key=f"{request.client}:{request.idempotency_key}" if request.idempotency_key else None,
        petitioner_key=key,
        matter_key=matter_key_of(submission, key),
    )


async def accept_many(conn: Conn, requests: Sequence[Request], *, secrets: Secrets) -> list[Outcome]:
    """Accept every request in one transaction; the outcomes are in the order of the requests.

    Four round trips whatever the batch size (begin and lock; read; write; commit and wake the
    relays): on the machines measured, each round trip costs more than all the Python work of a case.
    """
    prepared = [prepare(request, secrets) for request in requests]
    if not prepared:
        return []
    keys = sorted({p.scoped_key for p in prepared if p.scoped_key})
    matters = sorted({p.matter_key for p in prepared})
    async with store.locked_transaction(conn, [*keys, *matters]) as after_commit:
        snapshot = await store.read_for_accept(conn, keys, matters, numbers=len(prepared))
        decided = decide(prepared, snapshot, secrets)
        await store.insert_cases_and_events(
            conn, decided.rows, [outbox_row(CASE_RECEIVED.name, e) for e in decided.events]
        )
        if decided.events:
            after_commit.append(WAKE_RELAYS)
    return decided.outcomes


@dataclass(frozen=True)
class Decided:
    outcomes: list[Outcome]
    rows: list[dict[str, Any]]
    events: list[Envelope[ReceivedCase]]


def decide(prepared: Sequence[Prepared], snapshot: store.Snapshot, secrets: Secrets) -> Decided:
    """What to do with each request, given what the store held under the locks: pure.

    A request makes a new case unless its idempotency key is in the store or earlier in this batch;
    a later case of a matter in this batch sees the earlier ones as history. The snapshot holds a
    case number for every request; resubmissions leave theirs unused (numbers may have gaps).
    """
    known = dict(snapshot.known)
    histories = dict(snapshot.histories)
    numbers = iter(sorted(snapshot.numbers))
    outcomes: list[Outcome] = []
    rows: list[dict[str, Any]] = []
    events: list[Envelope[ReceivedCase]] = []
    for item in prepared:
        earlier = known.get(item.scoped_key) if item.scoped_key else None
        if earlier is not None:
            outcomes.append(
                Accepted(earlier.case_id, created=False)
                if earlier.request_hash == item.digest
                else Conflict(item.request.idempotency_key or "", earlier.case_id)
            )
            continue
        submission = item.request.submission
        case_id = case_number_for(
            submission.received_by, submission.received_at, next(numbers), timezone=secrets.timezone
        )
        if item.scoped_key:
            known[item.scoped_key] = store.StoredCase(case_id, item.digest)
        history = histories.get(item.matter_key, History())
        histories[item.matter_key] = History(
            prior_cases=history.prior_cases + 1,
            open_case_id=history.open_case_id or case_id,
            concluded=history.concluded,
        )
        row, event = _case_and_event(item, history, case_id, secrets)
        rows.append(row)
        events.append(event)
        outcomes.append(Accepted(case_id, created=True))
    return Decided(outcomes, rows, events)


def _case_and_event(
    item: Prepared, history: History, case_id: str, secrets: Secrets
) -> tuple[dict[str, Any], Envelope[ReceivedCase]]:
    submission = item.request.submission
    received = to_received_case(submission, case_id=case_id, petitioner_key=item.petitioner_key, history=history)
    row = {
        "case_id": case_id,
        "idempotency_key": item.scoped_key,
        "request_hash": item.digest,
        "client": item.request.client,
        "received_at": submission.received_at,
        "channel": submission.channel,
        "received_by": submission.received_by,
        "category": submission.category,
        "region": submission.location.region,
        "people_count": submission.people_count,
        "target_unit": submission.target_unit,
        "litigation": submission.litigation,
        "assignment": submission.assignment.model_dump(mode="json") if submission.assignment else None,
        "summary": submission.summary,
        "petitioner_key": item.petitioner_key,
        "matter_key": item.matter_key,
        "personal": seal_personal(secrets.vault, submission, case_id=case_id),
        "merged_into": history.open_case_id,
        "history": history.model_dump(mode="json"),
    }
    envelope = wrap(received, type="case.received", source=SOURCE, case_id=case_id, event_id=received_event_id(case_id))
    return row, envelope
