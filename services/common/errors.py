"""Turning validation failures into messages that name the field."""

from __future__ import annotations

from pydantic import ValidationError


def describe_validation_error(error: ValidationError) -> str:
    parts = []
    for item in error.errors(include_url=False, include_input=False):
        field = ".".join(str(p) for p in item["loc"]) or "(body)"
        parts.append(f"{field}: {item['msg']}")
    return "; ".join(parts)
