"""Prometheus for the local stack: scrapes intake, router and tracker, loads the project's alert rules.

The configuration is rendered into `<stack_dir>/prometheus.yml` on every start and checked with
`promtool check config`; samples are kept in `<stack_dir>/prometheus/`. Rule files are taken from
`deploy/prometheus/rules/*.yml` of the project through a glob, so a folder that does not exist yet
simply loads no rules.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import httpx
import yaml

from services.common.settings import PROJECT_ROOT, Settings
from services.stack import processes
from services.stack.errors import StackError
from services.stack.part import Part, Port

SCRAPE_INTERVAL = "5s"
START_TIMEOUT = 30.0
RULES_GLOB = "deploy/prometheus/rules/*.yml"
INSTALL_HINT = "install it (apt-get install prometheus) or run scripts/bootstrap"


def config_path(settings: Settings) -> Path:
    return settings.stack_dir / "prometheus.yml"


def storage_dir(settings: Settings) -> Path:
    return settings.stack_dir / "prometheus"


def scrape_targets(settings: Settings) -> dict[str, str]:
    """Job name → host:port of each service's /metrics."""
    return {
        "intake": f"{settings.host}:{settings.intake_port}",
        "router": f"{settings.host}:{settings.router_port}",
        "tracker": f"{settings.host}:{settings.tracker_port}",
    }


def render_config(settings: Settings, project_root: Path = PROJECT_ROOT) -> str:
    config = {
        "global": {"scrape_interval": SCRAPE_INTERVAL, "evaluation_interval": SCRAPE_INTERVAL},
        "rule_files": [str(project_root / RULES_GLOB)],
        "scrape_configs": [
            {"job_name": job, "metrics_path": "/metrics", "static_configs": [{"targets": [target]}]}
            for job, target in scrape_targets(settings).items()
        ],
    }
    return "# Written by `xf stack`; edits are lost on the next `xf stack up`.\n" + yaml.safe_dump(
        config, sort_keys=False
    )


def find_binary(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise StackError(f"{name} not found: {INSTALL_HINT}")
    return path


def preflight(settings: Settings) -> None:
    find_binary("prometheus")
    find_binary("promtool")


def check_config(path: Path) -> None:
    result = subprocess.run(
        [find_binary("promtool"), "check", "config", str(path)], capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise StackError(
            f"promtool rejects {path} (are the rules in {RULES_GLOB} valid?):\n{result.stdout}{result.stderr}".rstrip()
        )


def server_command(settings: Settings) -> list[str]:
    return [
        find_binary("prometheus"),
        f"--config.file={config_path(settings)}",
        f"--web.listen-address={settings.host}:{settings.prometheus_port}",
        f"--storage.tsdb.path={storage_dir(settings)}",
    ]


def base_url(settings: Settings) -> str:
    return f"http://{settings.host}:{settings.prometheus_port}"


def is_ready(settings: Settings) -> bool:
    try:
        return httpx.get(f"{base_url(settings)}/-/ready", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def start(settings: Settings) -> None:
    settings.stack_dir.mkdir(parents=True, exist_ok=True)
    config_path(settings).write_text(render_config(settings))
    check_config(config_path(settings))
    storage_dir(settings).mkdir(parents=True, exist_ok=True)
    processes.start_detached(
        "prometheus", server_command(settings), stack_dir=settings.stack_dir, cwd=settings.stack_dir
    )
    processes.wait_until_ready(
        "prometheus",
        lambda: is_ready(settings),
        stack_dir=settings.stack_dir,
        marker=marker(settings),
        timeout=START_TIMEOUT,
    )


def marker(settings: Settings) -> str:
    return f"--config.file={config_path(settings)}"


def address(settings: Settings) -> str:
    return base_url(settings)


def ports(settings: Settings) -> list[Port]:
    return [Port(settings.prometheus_port, "XF_PROMETHEUS_PORT")]


PART = Part(name="prometheus", address=address, ports=ports, marker=marker, start=start, preflight=preflight)
