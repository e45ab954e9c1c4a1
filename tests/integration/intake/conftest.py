"""Intake's real-stack tests: most need only Kafka, PostgreSQL and intake itself; those that follow a
case through the router use the whole stack (`running_stack`)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from services import stack
from services.common.settings import Settings

INTAKE_PARTS = ("kafka", "postgres", "intake")


@pytest.fixture(scope="session")
def intake_stack(stack_settings: Settings) -> Iterator[Settings]:
    """Kafka, PostgreSQL and intake, started once per session (left alone if already running)."""
    stack.up(stack_settings, INTAKE_PARTS)
    try:
        yield stack_settings
    finally:
        stack.down(stack_settings, INTAKE_PARTS)
