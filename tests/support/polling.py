"""Waiting for something the real stack does asynchronously (never a speed check: timeouts are generous)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


async def eventually(probe: Callable[[], Awaitable[T | None]], timeout: float = 30.0, what: str = "it") -> T:
    """Poll `probe()` until it returns something (not None, not False); fail naming `what` after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        value = await probe()
        if value is not None and value is not False:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"no {what} after {timeout}s")
        await asyncio.sleep(0.2)
