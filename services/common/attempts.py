"""A consumed batch whose effect fails: which errors are the record's fault, and how often to try it.

Connection, timeout and lock-conflict errors say nothing about the records: they propagate (after a
pause, so that the redelivery does not spin) and the batch is delivered again once the dependency is
back; `/healthz` and XfConsumerStalled report a consumer that makes no progress meanwhile. Any other
error is narrowed down to the records that cause it: each record of the batch is tried alone, up to
`attempts` times, and one that still fails is handed to `give_up` (which dead-letters it), so that one
record is never retried forever and the records after it go on.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

import asyncpg
from aiokafka.errors import KafkaError

log = logging.getLogger("xf.attempts")
R = TypeVar("R")

# Errors that say nothing about the record: let the batch be redelivered.
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    asyncio.TimeoutError,
    asyncpg.exceptions.InterfaceError,
    asyncpg.exceptions.PostgresConnectionError,
    asyncpg.exceptions.DeadlockDetectedError,
    asyncpg.exceptions.SerializationError,
    asyncpg.exceptions.LockNotAvailableError,
    asyncpg.exceptions.TooManyConnectionsError,
    asyncpg.exceptions.AdminShutdownError,
    asyncpg.exceptions.CannotConnectNowError,
    KafkaError,
)
TRANSIENT_PAUSE_S = 1.0
RETRY_PAUSE_S = 0.2


async def isolate_failures(
    records: Sequence[R],
    handle: Callable[[Sequence[R]], Awaitable[None]],
    give_up: Callable[[R, Exception], Awaitable[None]],
    *,
    attempts: int,
    what: str,
    transient_pause_s: float = TRANSIENT_PAUSE_S,
    retry_pause_s: float = RETRY_PAUSE_S,
) -> None:
    """`handle(records)`; on a failure that is not transient, each record alone up to `attempts` times,
    then `give_up(record, error)`. Transient errors propagate after `transient_pause_s`."""
    if len(records) != 1:
        try:
            await handle(records)
            return
        except TRANSIENT_ERRORS:
            await asyncio.sleep(transient_pause_s)
            raise
        except Exception:
            log.exception("a batch of %d %s failed; trying them one by one", len(records), what)
    for record in records:
        for attempt in range(1, max(attempts, 1) + 1):
            try:
                await handle([record])
                break
            except TRANSIENT_ERRORS:
                await asyncio.sleep(transient_pause_s)
                raise
            except Exception as error:
                if attempt >= attempts:
                    log.exception("%s failed %d times; giving up on it", what, attempt)
                    await give_up(record, error)
                else:
                    await asyncio.sleep(retry_pause_s * attempt)
