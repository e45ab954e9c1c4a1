"""Bring the local stack up, take it down, and tell what runs: the functions behind `xf stack`.

Parts start in dependency order (Kafka, PostgreSQL, Prometheus, then the services) and stop in the
reverse order. `up` is idempotent: a part that already runs is left alone, but its provisioning
(topics, role and database) is still ensured, which is cheap.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from services.common.settings import Settings
from services.stack import apps, kafka, postgres, processes, prometheus
from services.stack.errors import StackError
from services.stack.part import Part
from services.stack.ports import port_is_free, port_owner

# In dependency order: `up` follows it, `down` reverses it.
CATALOG: Mapping[str, Part] = {part.name: part for part in (kafka.PART, postgres.PART, prometheus.PART, *apps.PARTS)}
ALL_PARTS: tuple[str, ...] = tuple(CATALOG)
INFRA_PARTS: tuple[str, ...] = ("kafka", "postgres", "prometheus")

Report = Callable[[str], None]


@dataclass(frozen=True)
class PartStatus:
    name: str
    pid: int | None
    address: str
    log_file: Path

    @property
    def running(self) -> bool:
        return self.pid is not None


def select(parts: Iterable[str], catalog: Mapping[str, Part] = CATALOG) -> list[Part]:
    """The named parts in dependency order; unknown names are an error."""
    wanted = set(parts)
    unknown = sorted(wanted - set(catalog))
    if unknown:
        raise StackError(f"unknown part(s) {', '.join(unknown)}: choose from {', '.join(catalog)}")
    return [part for name, part in catalog.items() if name in wanted]


def running_pid(settings: Settings, part: Part) -> int | None:
    return processes.running_pid(settings.stack_dir, part.name, part.marker(settings))


def up(
    settings: Settings,
    parts: Iterable[str] = ALL_PARTS,
    *,
    catalog: Mapping[str, Part] = CATALOG,
    report: Report = print,
) -> None:
    """Start the parts that are not running, in dependency order, each ready before the next.

    Everything that can be checked up front (binaries, free ports) is checked before anything starts.
    """
    selected = select(parts, catalog)
    for part in selected:
        processes.forget_stale_pid(settings.stack_dir, part.name, part.marker(settings))
    to_start = [part for part in selected if running_pid(settings, part) is None]
    for part in to_start:
        part.preflight(settings)
    for part in to_start:
        check_ports_free(settings, part)
    for part in selected:
        pid = running_pid(settings, part)
        if pid is not None:
            state = f"already running (pid {pid})"
        else:
            seconds = start_part(settings, part)
            state = f"started in {seconds:.1f}s"
        part.provision(settings)
        report(describe(settings, part, state))


def start_part(settings: Settings, part: Part) -> float:
    """Start one part and wait until it is ready; on failure stop what was started."""
    started = time.monotonic()
    try:
        part.start(settings)
    except BaseException:
        processes.stop(settings.stack_dir, part.name, part.marker(settings), stop_signal=part.stop_signal, timeout=10)
        raise
    return time.monotonic() - started


def check_ports_free(settings: Settings, part: Part) -> None:
    for port in part.ports(settings):
        if not port_is_free(settings.host, port.number):
            holder = port_owner(port.number) or "another process"
            raise StackError(
                f"{part.name}: port {settings.host}:{port.number} is taken by {holder}, which is not "
                f"this stack's; stop it or choose another port with {port.setting}=..."
            )


def down(
    settings: Settings,
    parts: Iterable[str] = ALL_PARTS,
    *,
    catalog: Mapping[str, Part] = CATALOG,
    report: Report = print,
) -> None:
    """Stop the parts in reverse dependency order, each by its own pid."""
    for part in reversed(select(parts, catalog)):
        stopped = processes.stop(
            settings.stack_dir,
            part.name,
            part.marker(settings),
            stop_signal=part.stop_signal,
            timeout=part.stop_timeout,
        )
        report(f"{part.name:<10} {'stopped' if stopped else 'was not running'}")


def status(
    settings: Settings, parts: Iterable[str] = ALL_PARTS, *, catalog: Mapping[str, Part] = CATALOG
) -> list[PartStatus]:
    """What runs of the stack in `settings.stack_dir`, part by part, in dependency order."""
    return [
        PartStatus(
            name=part.name,
            pid=running_pid(settings, part),
            address=part.address(settings),
            log_file=processes.log_file(settings.stack_dir, part.name),
        )
        for part in select(parts, catalog)
    ]


def describe(settings: Settings, part: Part, state: str) -> str:
    log = processes.log_file(settings.stack_dir, part.name)
    return f"{part.name:<10} {state:<26} {part.address(settings)}  log: {log}"
