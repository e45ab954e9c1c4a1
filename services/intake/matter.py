"""The same matter (同一信访事项), and the case that leaves intake.

Two cases are the same matter when they have the same petitioner (pseudonym), the same category,
arose in the same county (the first 6 digits of the region code: a matter moving between two
villages of one county is still one matter; a region above county level stays as it is), and name
the same unit complained about (or none). `matter_key` hashes those four into `m1_<sha256 hex>`,
which the store indexes to answer `History` (prior_cases, open_case_id, concluded).
The petitioner part is already a keyed pseudonym, so the hash needs no key of its own. An anonymous
petitioner's per-case pseudonym makes every anonymous case its own matter.

`to_received_case` builds the `case.received` data (DOMAIN.md §4.3): only routing facts, the
pseudonym and the summary. Nothing else from the petitioner, location address or content is copied.
"""

from __future__ import annotations

import hashlib

from services.common.field_errors import SubmissionInvalid, field_error
from services.common.schemas import Assignment, History, Location, ReceivedCase, Residence
from services.intake.identity import find_identifiers
from services.intake.submission import Submission

MATTER_PREFIX = "m1_"


def county_of(region: str) -> str:
    return region[:6]


def matter_key(petitioner_key: str, category: str, region: str, target_unit: str | None) -> str:
    parts = (petitioner_key, category, county_of(region), target_unit or "")
    return MATTER_PREFIX + hashlib.sha256("\x00".join(parts).encode()).hexdigest()


def matter_key_of(submission: Submission, petitioner_key: str) -> str:
    return matter_key(petitioner_key, submission.category, submission.location.region, submission.target_unit)


def to_received_case(submission: Submission, *, case_id: str, petitioner_key: str, history: History) -> ReceivedCase:
    # Validation already refused this; checked again because this is the last door out of intake.
    if find_identifiers(submission.summary):
        raise SubmissionInvalid(
            [field_error("summary", "summary_personal_data", what="personal data", what_zh="个人信息")]
        )
    handover = submission.assignment
    assignment = None
    if submission.channel == "assignment" and handover is not None and handover.due_days is not None:
        assignment = Assignment(
            from_unit=handover.from_unit, due_days=handover.due_days, assigned_at=handover.assigned_at
        )
    return ReceivedCase(
        case_id=case_id,
        received_at=submission.received_at,
        channel=submission.channel,
        received_by=submission.received_by,
        category=submission.category,
        location=Location(region=submission.location.region),
        petitioner_key=petitioner_key,
        people_count=submission.people_count,
        target_unit=submission.target_unit,
        litigation=submission.litigation,
        history=history,
        assignment=assignment,
        residence=Residence(region=submission.residence.region if submission.residence is not None else None),
        new_facts=submission.new_facts,
        summary=submission.summary,
    )
