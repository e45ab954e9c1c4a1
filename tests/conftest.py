"""Shared fixtures. Integration tests run against a real stack on ports of their own."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from services.common.settings import PROJECT_ROOT, Settings

TEST_PORTS = {
    "XF_KAFKA_PORT": "19092",
    "XF_KAFKA_CONTROLLER_PORT": "19093",
    "XF_PG_PORT": "25432",
    "XF_PROMETHEUS_PORT": "19090",
    "XF_INTAKE_PORT": "18001",
    "XF_ROUTER_PORT": "18002",
    "XF_TRACKER_PORT": "18003",
}


@pytest.fixture(scope="session")
def stack_settings(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    """The settings of the integration stack: the defaults' ports moved, a stack dir of its own."""
    env = {**TEST_PORTS, "XF_STACK_DIR": str(Path(os.environ.get("XF_TEST_STACK_DIR", PROJECT_ROOT / ".stack-test")))}
    previous = {name: os.environ.get(name) for name in env}
    os.environ.update(env)
    try:
        yield Settings()
    finally:
        for name, value in previous.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
