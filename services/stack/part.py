"""What the stack needs to know about each of its parts (Kafka, PostgreSQL, Prometheus, the apps)."""

from __future__ import annotations

import signal
from collections.abc import Callable
from dataclasses import dataclass

from services.common.settings import Settings


@dataclass(frozen=True)
class Port:
    number: int
    setting: str  # the environment variable that moves it, e.g. XF_KAFKA_PORT


def _nothing(settings: Settings) -> None:
    """The default for parts that need no checks or provisioning."""


@dataclass(frozen=True)
class Part:
    """One part of the stack. Every callable takes the Settings of the stack it acts on."""

    name: str
    # Where it listens, shown to the user, e.g. "127.0.0.1:9092 (controller 9093)".
    address: Callable[[Settings], str]
    ports: Callable[[Settings], list[Port]]
    # A string only our process has on its command line (a config path, a module name).
    marker: Callable[[Settings], str]
    # Starts the process and returns once it is ready; the part is known not to be running.
    start: Callable[[Settings], None]
    # Checks that must pass before anything is started (binaries present, directories reachable).
    preflight: Callable[[Settings], None] = _nothing
    # Runs on every `up` once the part is ready, started now or before (topics, roles: idempotent).
    provision: Callable[[Settings], None] = _nothing
    stop_signal: signal.Signals = signal.SIGTERM
    stop_timeout: float = 30.0
