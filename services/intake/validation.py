"""The one entry point that decides whether intake accepts a submission.

`validate_submission` reports every problem at once as `SubmissionInvalid([FieldError, ...])`:
pydantic's structural errors and our per-field checks (checks.py) come from one pydantic pass; the
cross-field rules below run on top, also when some fields already failed (each rule only looks at
fields that are themselves valid, so one mistake is not reported twice).

Cross-field rules:
- anonymous petitioners on every channel but `visit`;
- `assignment` required for `referral` and `assignment`, with `due_days` for `assignment` only,
  and absent for every other channel (see submission.py);
- the summary must not contain the petitioner's own name, organisation name, address, phone,
  identity number or e-mail (the pattern scan in checks.py catches most; this catches the rest).
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from services.common.bounded import Limits, Refused, control_paths, load_json
from services.common.field_errors import FieldError, SubmissionInvalid, field_error, field_errors_from_pydantic
from services.common.regions import RegionTree
from services.common.schemas import CHANNELS
from services.intake.checks import CATEGORIES, CONTEXT_KEY, ValidationContext
from services.intake.identity import IdentifierInvalid, fold, normalise_phone
from services.intake.submission import Submission

__all__ = [
    "ANONYMOUS_CHANNELS",
    "CATEGORIES",
    "CHANNEL_NAMES_ZH",
    "FieldError",
    "SubmissionInvalid",
    "ValidationContext",
    "validate_submission",
]

ANONYMOUS_CHANNELS: frozenset[str] = frozenset(CHANNELS) - {"visit"}
HANDOVER_CHANNELS: frozenset[str] = frozenset({"referral", "assignment"})
CHANNEL_NAMES_ZH: dict[str, str] = {
    "letter": "来信",
    "visit": "来访",
    "online": "网上信访",
    "phone": "来电",
    "email": "电子邮件",
    "mailbox": "领导信箱",
    "referral": "上级转送",
    "assignment": "上级交办",
}
# Shorter values (a one-character name) would match ordinary words.
_MIN_PERSONAL_MATCH = 2
_BETWEEN_DIGITS = re.compile(r"(?<=\d)[\-.()/]+(?=\d)")
# Control characters are refused by validate_submission itself, naming the field.
BODY_LIMITS = Limits(refuse_control=False)
_PERSONAL_FIELDS = ("name", "organisation_name", "address", "email", "id_number", "phone")


def validate_submission(
    data: Mapping[str, Any] | str | bytes,
    *,
    regions: RegionTree | None = None,
    extra_categories: Iterable[str] = (),
    now: datetime | None = None,
    limits: Limits = BODY_LIMITS,
) -> Submission:
    """The accepted submission, or `SubmissionInvalid` listing every problem.

    `data` is the decoded body or the raw JSON (HTTP body, Kafka message value), which is read within
    `limits` (size, nesting, numbers: a refusal names the body, field ""). Control characters (NUL…)
    are refused wherever they are, naming the field.
    """
    if isinstance(data, str | bytes):
        data = decode_body(data.encode() if isinstance(data, str) else data, limits)
    if not isinstance(data, Mapping):
        raise SubmissionInvalid([field_error("", "json_type")])
    context = ValidationContext.build(regions=regions, extra_categories=extra_categories, now=now)
    errors = [field_error(path, "control_character") for path in control_paths(dict(data))]
    controlled = {error.field for error in errors}
    try:
        submission: Submission | None = Submission.model_validate(data, context={CONTEXT_KEY: context})
    except ValidationError as exc:
        errors.extend(error for error in field_errors_from_pydantic(exc) if error.field not in controlled)
        submission = None
    if errors:
        submission = None
    failed = {error.field for error in errors}
    view: Mapping[str, Any] = submission.model_dump() if submission is not None else data
    errors.extend(_cross_field(view, failed))
    if errors:
        raise SubmissionInvalid(errors)
    assert submission is not None
    return submission


def decode_body(raw: bytes, limits: Limits = BODY_LIMITS) -> Any:
    """The decoded JSON of a body, or `SubmissionInvalid` naming the body (field "") and the bound it broke."""
    try:
        return load_json(raw, limits)
    except Refused as refused:
        code = "json_invalid" if refused.code == "not_json" else refused.code
        raise SubmissionInvalid([field_error("", code)]) from None


def _cross_field(data: Mapping[str, Any], failed: set[str]) -> list[FieldError]:
    def ok(field: str) -> bool:
        return not any(bad == field or bad.startswith(field + ".") for bad in failed)

    errors: list[FieldError] = []
    channel = data.get("channel") if ok("channel") else None
    if channel not in CHANNELS:
        channel = None
    petitioner = data.get("petitioner") if ok("petitioner") else None
    petitioner = petitioner if isinstance(petitioner, Mapping) else None

    anonymous = petitioner is not None and petitioner.get("kind") == "anonymous"
    if channel is not None and anonymous and channel not in ANONYMOUS_CHANNELS:
        errors.append(_channel_error("petitioner", "anonymous_not_allowed", channel))

    if channel is not None and ok("assignment"):
        handover = data.get("assignment")
        if channel in HANDOVER_CHANNELS and not isinstance(handover, Mapping):
            errors.append(_channel_error("assignment", "assignment_required", channel))
        elif channel not in HANDOVER_CHANNELS and handover is not None:
            errors.append(field_error("assignment", "assignment_not_allowed"))
        elif isinstance(handover, Mapping):
            due_days = handover.get("due_days")
            if channel == "assignment" and due_days is None:
                errors.append(field_error("assignment.due_days", "due_days_required"))
            elif channel == "referral" and due_days is not None:
                errors.append(field_error("assignment.due_days", "due_days_not_allowed"))

    summary = data.get("summary") if ok("summary") else None
    if isinstance(summary, str) and petitioner is not None:
        what = _petitioner_data_in(summary, petitioner)
        if what:
            errors.append(field_error("summary", "summary_personal_data", what=what[0], what_zh=what[1]))
    return errors


def _channel_error(field: str, code: str, channel: str) -> FieldError:
    return field_error(field, code, channel=channel, channel_zh=CHANNEL_NAMES_ZH[channel])


def _petitioner_data_in(summary: str, petitioner: Mapping[str, Any]) -> tuple[str, str] | None:
    text = fold(summary)
    joined = _BETWEEN_DIGITS.sub("", text)
    for field in _PERSONAL_FIELDS:
        value = petitioner.get(field)
        if not isinstance(value, str) or len(value.strip()) < _MIN_PERSONAL_MATCH:
            continue
        if field == "phone":
            with contextlib.suppress(IdentifierInvalid):
                value = normalise_phone(value)
            if value in joined:
                return ("the petitioner's phone number", "信访人的电话号码")
        elif fold(value) in (joined if field == "id_number" else text):
            return ("the petitioner's " + field.replace("_", " "), "信访人的" + _FIELD_ZH[field])
    return None


_FIELD_ZH = {
    "name": "姓名",
    "organisation_name": "单位名称",
    "address": "地址",
    "email": "电子邮件地址",
    "id_number": "身份证号码",
}
