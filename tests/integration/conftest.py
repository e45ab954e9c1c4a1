from __future__ import annotations

import shutil
from collections.abc import Iterator

import pytest

from services import stack
from services.common.settings import Settings

ALL_PARTS = ("kafka", "postgres", "prometheus", "intake", "router", "tracker")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "/integration/" in str(item.fspath):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def running_stack(stack_settings: Settings) -> Iterator[Settings]:
    """The whole system, started fresh once per test session and stopped at its end."""
    stack.down(stack_settings, ALL_PARTS)  # whatever a crashed earlier session left running
    for path in stack_settings.stack_dir.iterdir():  # all but the secrets, which the settings carry
        if path.name != "secrets":
            shutil.rmtree(path) if path.is_dir() else path.unlink()
    stack.up(stack_settings, ALL_PARTS)
    try:
        yield stack_settings
    finally:
        stack.down(stack_settings, ALL_PARTS)
