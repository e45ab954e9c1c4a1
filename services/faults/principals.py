"""Who a Kafka client of the campaign is: the services' own principal, the development stack's upstream
or unit partner, a partner by name, or nobody at all (no credentials).

The credentials come from where the stack keeps them: `services.common.kafka.client_options` for the
services' principal, and `xf stack kafka-config --role upstream|unit [--name N]` (a JSON object of aiokafka
keyword arguments) for partners. On a stack without SASL that command does not exist or prints no
credentials; every principal then connects as everybody does, and the report says so (`sasl` False).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from typing import Any, Literal

from services.common.kafka import client_options
from services.common.settings import PROJECT_ROOT, Settings
from services.stack.apps import settings_environment

Role = Literal["service", "upstream", "unit"]
SASL_KEYS = ("sasl_mechanism", "sasl_plain_username")


@dataclass(frozen=True)
class Principal:
    label: str  # as the report shows it, e.g. "unit partner faults-unscoped"
    options: dict[str, Any] = field(compare=False)  # aiokafka keyword arguments
    note: str = ""

    @property
    def sasl(self) -> bool:
        return any(self.options.get(key) for key in SASL_KEYS)


def nobody(settings: Settings) -> Principal:
    """A producer that knows the broker's address and nothing else."""
    return Principal("no credentials", {"bootstrap_servers": settings.bootstrap_servers})


def service(settings: Settings) -> Principal:
    return Principal("service", client_options(settings))


def partner(settings: Settings, role: Role, name: str | None = None) -> Principal:
    """The stack's client of `role` (or the named partner's), as `xf stack kafka-config` prints it."""
    label = f"{role} partner {name}" if name else f"{role} (the stack's own)"
    done = xf(settings, "stack", "kafka-config", "--role", role, *(["--name", name] if name else []))
    if done.returncode != 0:
        first = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return Principal(label, client_options(settings), note=f"xf stack kafka-config unavailable ({first[:120]})")
    options: dict[str, Any] = json.loads(done.stdout)
    return Principal(label, options)


def xf(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    """Run `xf ARGS` against the campaign's stack (its XF_* settings), output captured."""
    argv = [sys.executable, "-m", "services.cli", *args]
    env = {**os.environ, **settings_environment(settings)}
    return subprocess.run(argv, cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=60, check=False)
