"""Validators the services' pydantic models share: text without control characters, times as text."""

from __future__ import annotations

from services.common.bounded import control_paths
from services.common.field_errors import custom_error


def refuse_control(text: str) -> str:
    """Text without NUL or another control character (tab and line breaks are fine): PostgreSQL cannot
    store NUL, and the others only hide what a text says. (Submissions are walked whole instead, by
    validation.validate_submission.)"""
    if control_paths(text):
        raise custom_error("control_character")
    return text


def refuse_epoch(value: object) -> object:
    """A time must be ISO 8601 text: a number (an epoch, `0` → 1970-01-01) is refused, not converted."""
    if isinstance(value, int | float):
        raise custom_error("datetime_type")
    return value
