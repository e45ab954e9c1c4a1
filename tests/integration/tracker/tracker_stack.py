"""Operating the stack's tracker from a test: restart it with other settings, or crash it."""

from __future__ import annotations

import os
import signal
import time

from services import stack
from services.common.settings import Settings
from services.stack.ports import port_is_free
from services.stack.stack import CATALOG, running_pid


def quiet(_: str) -> None:
    pass


def restart_tracker(current: Settings, new: Settings) -> None:
    stack.down(current, ["tracker"], report=quiet)
    stack.up(new, ["tracker"], report=quiet)


def kill_tracker(settings: Settings) -> int:
    """SIGKILL the stack's tracker (a crash, not a shutdown); returns its pid."""
    pid = running_pid(settings, CATALOG["tracker"])
    assert pid is not None, "the stack's tracker is not running"
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 20
    while running_pid(settings, CATALOG["tracker"]) is not None or not port_is_free(
        settings.host, settings.tracker_port
    ):
        assert time.monotonic() < deadline, "the killed tracker still holds its pid file or port"
        time.sleep(0.05)
    return pid
