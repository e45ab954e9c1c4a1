"""What intake's clients may submit, and which Kafka sources they may publish under. The clients,
their roles and scopes are services.access (shared with the tracker).
"""

from __future__ import annotations

from services.access.scopes import Action, Client, unit_in_scope
from services.common.field_errors import FieldError, field_error
from services.intake.submission import Submission
from services.intake.validation import CHANNEL_NAMES_ZH

_ACTION_ZH = {"submit": "提交", "read": "查看"}


def submission_refusals(client: Client, submission: Submission) -> list[FieldError]:
    """Why `client` may not submit this case; empty when it may."""
    if not client.may("submit"):
        return [role_error(client, "submit")]
    errors: list[FieldError] = []
    if submission.channel not in client.channels:
        errors.append(
            field_error(
                "channel",
                "channel_forbidden",
                channel=submission.channel,
                channel_zh=CHANNEL_NAMES_ZH[submission.channel],
            )
        )
    if not unit_in_scope(submission.received_by, client.submit_scope):
        errors.append(field_error("received_by", "unit_forbidden", unit=submission.received_by))
    return errors


def role_error(client: Client, action: Action) -> FieldError:
    return field_error("X-API-Key", "role_forbidden", role=client.role, action=action, action_zh=_ACTION_ZH[action])


def source_matches(pattern: str, source: str) -> bool:
    if pattern.endswith("*"):
        return source.startswith(pattern[:-1])
    return source == pattern
