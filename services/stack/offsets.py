"""Settings for a second stack beside the default one: every port moved by the same offset.

The tests (`XF_TEST_PORT_OFFSET`) and the benchmarks (`--port-offset`) use it, so that several can run
side by side on one machine without touching the stack on the default ports.
"""

from __future__ import annotations

from pathlib import Path

from services.common.settings import Settings

# The test stack's ports at offset 0; the defaults (9092, 55432, 8001…) stay free for `xf stack up`.
TEST_BASE_PORTS: dict[str, int] = {
    "kafka_port": 19092,
    "kafka_controller_port": 19093,
    "pg_port": 25432,
    "prometheus_port": 19090,
    "intake_port": 18001,
    "router_port": 18002,
    "tracker_port": 18003,
}


def offset_ports(offset: int) -> dict[str, int]:
    return {name: port + offset for name, port in TEST_BASE_PORTS.items()}


def offset_environment(offset: int) -> dict[str, str]:
    """The same ports as XF_* environment variables, for the services a stack starts."""
    return {f"XF_{name.upper()}": str(port) for name, port in offset_ports(offset).items()}


def offset_settings(offset: int, stack_dir: Path) -> Settings:
    return Settings(stack_dir=stack_dir, **offset_ports(offset))  # type: ignore[arg-type]
