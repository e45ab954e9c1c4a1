"""Accepting a validated submission: one transaction stores the case and its outgoing event.

Plain functions over a connection, shared by the HTTP API and the Kafka consumer.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime

from services.common.db import Conn
from services.common.envelope import wrap
from services.common.topics import CASE_RECEIVED
from services.intake import store
from services.intake.case_numbers import case_number_for
from services.intake.matter import matter_key_of, to_received_case
from services.intake.outbox import enqueue
from services.intake.privacy import Vault, petitioner_key, seal_personal
from services.intake.submission import Submission

SOURCE = "xinfang/intake"


@dataclass(frozen=True)
class Accepted:
    case_id: str
    created: bool  # False when the idempotency key named a case accepted before


class IdempotencyConflict(Exception):
    """The idempotency key was used before for a different submission."""

    def __init__(self, key: str, case_id: str) -> None:
        super().__init__(f"idempotency key {key!r} was already used for case {case_id} with a different body")
        self.case_id = case_id


@dataclass(frozen=True)
class Secrets:
    pseudonym_key: bytes
    vault: Vault
    timezone: str = "Asia/Shanghai"


def request_hash(submission: Submission) -> str:
    # A received_at we filled in ourselves differs on every resubmission: leave it out.
    defaulted = set() if "received_at" in submission.model_fields_set else {"received_at"}
    canonical = submission.model_dump_json(exclude=defaulted)
    return hashlib.sha256(canonical.encode()).hexdigest()


async def accept(
    conn: Conn,
    submission: Submission,
    *,
    client: str,
    idempotency_key: str | None,
    secrets: Secrets,
    event_id: str | None = None,
) -> Accepted:
    """Store the case and queue `case.received`, or return the case the idempotency key names."""
    digest = request_hash(submission)
    scoped_key = f"{client}:{idempotency_key}" if idempotency_key else None
    async with conn.transaction():
        if scoped_key is not None:
            await store.lock_idempotency_key(conn, scoped_key)
            existing = await store.find_by_idempotency_key(conn, scoped_key)
            if existing is not None:
                if existing.request_hash != digest:
                    raise IdempotencyConflict(idempotency_key or "", existing.case_id)
                return Accepted(existing.case_id, created=False)

        key = petitioner_key(secrets.pseudonym_key, submission.petitioner)
        matter = matter_key_of(submission, key)
        history = await store.same_matter_history(conn, matter)
        received_at: datetime = submission.received_at
        case_id = case_number_for(
            submission.received_by, received_at, await store.next_sequence(conn), timezone=secrets.timezone
        )
        received = to_received_case(
            submission, case_id=case_id, petitioner_key=key, history=history, received_at=received_at
        )
        await store.insert_case(
            conn,
            {
                "case_id": case_id,
                "idempotency_key": scoped_key,
                "request_hash": digest,
                "client": client,
                "received_at": received_at,
                "channel": submission.channel,
                "received_by": submission.received_by,
                "category": submission.category,
                "region": submission.location.region,
                "people_count": submission.people_count,
                "target_unit": submission.target_unit,
                "litigation": submission.litigation,
                "assignment": submission.assignment.model_dump(mode="json") if submission.assignment else None,
                "summary": submission.summary,
                "petitioner_key": key,
                "matter_key": matter,
                "personal": seal_personal(secrets.vault, submission, case_id=case_id),
                "merged_into": history.open_case_id,
            },
        )
        envelope = wrap(received, type="case.received", source=SOURCE, case_id=case_id, event_id=event_id)
        await enqueue(conn, CASE_RECEIVED.name, envelope)
    return Accepted(case_id, created=True)
