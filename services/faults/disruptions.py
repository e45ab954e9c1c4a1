"""Kills and restarts of the stack's parts, as an operator's supervisor would do them.

A service is killed with SIGKILL by its own pid (the stack's pid file) and started again exactly as
`xf stack up` starts it. Kafka and PostgreSQL are restarted (`xf stack down` then `up` of that part).
A tracker kill can wait until its scanner is raising alerts (the `alerts` table grew in the last
moments), so that the kill lands inside a scan. After each disruption every part is checked: one that
exited on its own is reported and started again.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import asyncpg

from services import stack
from services.common.settings import Settings
from services.stack.ports import port_is_free

SERVICES = ("intake", "router", "tracker")
INFRA = ("kafka", "postgres")
Log = Callable[[str], None]


@dataclass
class Disruption:
    what: str  # "kill -9 tracker", "restart kafka"
    at: float  # seconds since the campaign started
    down_seconds: float = 0.0
    note: str = ""


@dataclass
class Journal:
    started: float = field(default_factory=time.monotonic)
    done: list[Disruption] = field(default_factory=list)
    crashed: list[str] = field(default_factory=list)  # parts found exited on their own

    def now(self) -> float:
        return time.monotonic() - self.started


def _pid(settings: Settings, part: str) -> int | None:
    (status,) = stack.status(settings, [part])
    return status.pid


async def _up(settings: Settings, parts: Sequence[str]) -> None:
    await asyncio.to_thread(stack.up, settings, list(parts), report=lambda line: None)


async def kill9(settings: Settings, part: str, journal: Journal, note: str = "") -> None:
    pid = _pid(settings, part)
    started = time.monotonic()
    at = journal.now()
    if pid is None:
        journal.crashed.append(f"{part} (not running at its kill, {at:.0f}s)")
    else:
        os.kill(pid, signal.SIGKILL)
        # The command line empties before the kernel closes the process's sockets: wait for both.
        port = getattr(settings, f"{part}_port")
        while time.monotonic() - started < 10 and (
            _pid(settings, part) is not None or not port_is_free(settings.host, port)
        ):
            await asyncio.sleep(0.05)
    await _up(settings, [part])
    journal.done.append(Disruption(f"kill -9 {part}", at, time.monotonic() - started, note))


async def restart(settings: Settings, part: str, journal: Journal) -> None:
    started = time.monotonic()
    at = journal.now()
    await asyncio.to_thread(stack.down, settings, [part], report=lambda line: None)
    await _up(settings, [part])
    journal.done.append(Disruption(f"restart {part}", at, time.monotonic() - started))


async def revive(settings: Settings, parts: Sequence[str], journal: Journal, log: Log) -> None:
    """Start again whatever exited on its own (and say so)."""
    for part in parts:
        if _pid(settings, part) is None:
            journal.crashed.append(f"{part} (found exited at {journal.now():.0f}s)")
            log(f"[faults] {part} exited on its own; starting it again")
            await _up(settings, [part])


async def alerts_raised(settings: Settings) -> int | None:
    try:
        conn = await asyncpg.connect(settings.dsn, timeout=5)
    except (TimeoutError, OSError, asyncpg.PostgresError):
        return None
    try:
        value = await conn.fetchval("SELECT count(*) FROM tracker.alerts")
        return int(value)
    except asyncpg.PostgresError:
        return None
    finally:
        await conn.close()


async def when_scanner_busy(settings: Settings, timeout: float) -> int:
    """Wait until the scanner has raised alerts within the last ~0.2 s; how many (0 at the timeout)."""
    deadline = time.monotonic() + timeout
    last = await alerts_raised(settings)
    while time.monotonic() < deadline:
        await asyncio.sleep(0.2)
        count = await alerts_raised(settings)
        if count is not None and last is not None and count > last:
            return count - last
        last = count
    return 0
