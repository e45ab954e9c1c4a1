"""Fixtures for the tracker against the real stack: a database connection, tracker restarts with other
settings, and a second tracker instance run as its own process."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import AsyncIterator, Iterator

import asyncpg
import pytest
from service_process import service_process
from tracker_stack import quiet, restart_tracker

from services import stack
from services.common.settings import PROJECT_ROOT, Settings
from services.stack.apps import settings_environment

SECOND_PORT_SHIFT = 37  # the second instance's HTTP port: the tracker's own plus this


TRACKER_PARTS = ("kafka", "postgres", "intake", "tracker")  # intake keeps the API clients' registry


@pytest.fixture(scope="session")
def tracker_stack(stack_settings: Settings) -> Iterator[Settings]:
    """The stack without its router: these tests publish the routing decisions themselves (with the
    dispositions and times they need), and a router would route their cases a second time.

    Leaves the stack as it found it: parts it started are stopped, a router that ran runs again."""
    before = {part.name for part in stack.status(stack_settings) if part.running}
    stack.up(stack_settings, TRACKER_PARTS, report=quiet)
    if "router" in before:
        stack.down(stack_settings, ["router"], report=quiet)
    try:
        yield stack_settings
    finally:
        if "router" in before:
            stack.up(stack_settings, ["router"], report=quiet)
        stack.down(stack_settings, [p for p in TRACKER_PARTS if p not in before], report=quiet)


@pytest.fixture
async def db(tracker_stack: Settings) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(tracker_stack.dsn, server_settings={"search_path": "tracker"})
    try:
        yield conn
    finally:
        await conn.close()


@pytest.fixture(scope="module")
def fast_tracker(tracker_stack: Settings) -> Iterator[Settings]:
    """The stack's tracker restarted to scan often in small rounds and consume in small batches."""
    fast = tracker_stack.model_copy(
        update={"tracker_scan_interval": 0.2, "tracker_scan_batch": 7, "tracker_consumer_batch": 20}
    )
    restart_tracker(tracker_stack, fast.model_copy(update={"tracker_instance": "tracker-a"}))
    try:
        yield fast
    finally:
        restart_tracker(fast, tracker_stack)


@pytest.fixture(scope="module")
def tracker_rules(tracker_stack: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    """The stack's tracker restarted to read a copy of rules/ (`rules_dir`) that the test edits, and to
    scan often."""
    rules = tmp_path_factory.mktemp("rules") / "rules"
    shutil.copytree(PROJECT_ROOT / "rules", rules)
    edited = tracker_stack.model_copy(update={"rules_dir": rules, "tracker_scan_interval": 0.2})
    restart_tracker(tracker_stack, edited)
    try:
        yield edited
    finally:
        restart_tracker(edited, tracker_stack)


@pytest.fixture(scope="module")
def second_tracker(fast_tracker: Settings) -> Iterator[subprocess.Popen[bytes]]:
    """Another tracker instance on the same Kafka group and database, as `python -m services.tracker`."""
    port = fast_tracker.tracker_port + SECOND_PORT_SHIFT
    env = {
        **os.environ,
        **settings_environment(fast_tracker),
        "XF_TRACKER_PORT": str(port),
        "XF_TRACKER_INSTANCE": "tracker-b",
    }
    with service_process(
        "services.tracker",
        env,
        health_url=f"http://{fast_tracker.host}:{port}/healthz",
        log_path=fast_tracker.stack_dir / "logs" / "tracker-b.log",
    ) as process:
        yield process
