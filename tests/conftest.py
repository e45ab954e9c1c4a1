"""Shared fixtures. Integration tests run against a real stack on ports of their own."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from services.common.settings import PROJECT_ROOT, Settings
from services.stack.offsets import offset_environment
from services.stack.stack_secrets import ensure_stack_secrets

# The test suite is a development environment: the shipped default secrets and intake's development API
# key may be used (a test that checks the refusal outside development mode says dev_mode=False itself).
os.environ.setdefault("XF_DEV_MODE", "true")

# Moved by XF_TEST_PORT_OFFSET, so that several test sessions can run side by side on one machine.
_OFFSET = int(os.environ.get("XF_TEST_PORT_OFFSET", "0"))
TEST_PORTS = offset_environment(_OFFSET)


@pytest.fixture(scope="session")
def stack_settings() -> Iterator[Settings]:
    """The settings of the integration stack: the defaults' ports moved, a stack dir of its own."""
    stack_dir = os.environ.get("XF_TEST_STACK_DIR", str(PROJECT_ROOT / f".stack-test{_OFFSET or ''}"))
    env = {**TEST_PORTS, "XF_STACK_DIR": stack_dir}
    previous = {name: os.environ.get(name) for name in env}
    os.environ.update(env)
    # The stack's secrets first (as `xf stack up` makes them), so that these settings carry its keys.
    ensure_stack_secrets(Settings())
    try:
        yield Settings()
    finally:
        for name, value in previous.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
