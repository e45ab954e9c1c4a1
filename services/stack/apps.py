"""The pipeline's own services (intake, router, tracker) as processes of the local stack.

Each runs as `<python> -m services.<name>` from the project root, with the XF_* environment of the
Settings the stack was started with, so a stack on other ports (tests) reaches its own Kafka and
PostgreSQL. A service is ready when `GET http://host:port/healthz` answers 200.
"""

from __future__ import annotations

import os
import sys

import httpx

from services.common.kafka import credentials
from services.common.secret_files import SETTINGS_FILES
from services.common.settings import PROJECT_ROOT, Settings
from services.stack import processes
from services.stack.part import Part, Port
from services.stack.stack_secrets import ensure_stack_secrets

APP_NAMES: tuple[str, ...] = ("intake", "router", "tracker")
START_TIMEOUT = 60.0


def settings_environment(settings: Settings) -> dict[str, str]:
    """The Settings as XF_* variables (fields that are None are left out, so their defaults apply)."""
    prefix = str(settings.model_config.get("env_prefix", ""))
    return {f"{prefix}{name}".upper(): str(value) for name, value in settings.model_dump().items() if value is not None}


def app_environment(settings: Settings, name: str) -> dict[str, str]:
    """What service `name` runs with: the stack's settings in development mode, as its own Kafka principal.

    Secrets that still have their shipped default here are left out, so that the service reads the ones
    `xf stack up` made in the stack directory (a process started before they existed has the default).
    """
    ensure_stack_secrets(settings)
    env = settings_environment(settings)
    prefix = str(settings.model_config.get("env_prefix", "")).upper()
    for field in SETTINGS_FILES:
        if getattr(settings, field) == Settings.model_fields[field].default:
            env.pop(f"{prefix}{field.upper()}", None)
    username, password = credentials(settings, name)
    env |= {
        f"{prefix}DEV_MODE": "true",
        f"{prefix}KAFKA_USERNAME": username,
        f"{prefix}KAFKA_PASSWORD": password,
    }
    return env


def port_of(settings: Settings, name: str) -> int:
    port: int = getattr(settings, f"{name}_port")
    return port


def healthz_url(settings: Settings, name: str) -> str:
    return f"http://{settings.host}:{port_of(settings, name)}/healthz"


def is_healthy(settings: Settings, name: str) -> bool:
    try:
        return httpx.get(healthz_url(settings, name), timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def app_command(module: str) -> list[str]:
    return [sys.executable, "-m", module]


def start_app(settings: Settings, name: str, module: str) -> None:
    """Start `python -m module` as the part `name` and wait until its /healthz answers 200."""
    processes.start_detached(
        name,
        app_command(module),
        stack_dir=settings.stack_dir,
        env={**os.environ, **app_environment(settings, name)},
        cwd=PROJECT_ROOT,
    )
    processes.wait_until_ready(
        name,
        lambda: is_healthy(settings, name),
        stack_dir=settings.stack_dir,
        marker=f"-m {module}",  # same as the part's marker below
        timeout=START_TIMEOUT,
        what="healthy",
    )


def app_part(name: str, module: str | None = None) -> Part:
    """The part for service `name`, run from `module` (default `services.<name>`)."""
    module = module or f"services.{name}"

    def start(settings: Settings) -> None:
        start_app(settings, name, module)

    def address(settings: Settings) -> str:
        return f"http://{settings.host}:{port_of(settings, name)} (/healthz, /metrics)"

    def ports(settings: Settings) -> list[Port]:
        return [Port(port_of(settings, name), f"XF_{name.upper()}_PORT")]

    def marker(settings: Settings) -> str:
        return f"-m {module}"

    return Part(name=name, address=address, ports=ports, marker=marker, start=start)


PARTS: tuple[Part, ...] = tuple(app_part(name) for name in APP_NAMES)
