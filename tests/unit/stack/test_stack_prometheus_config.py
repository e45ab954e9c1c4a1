"""The prometheus.yml that `xf stack` renders for the local stack."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from services.common.settings import Settings
from services.stack import prometheus
from services.stack.errors import StackError


@pytest.fixture
def config(tmp_path: Path) -> dict[str, Any]:
    settings = Settings(stack_dir=tmp_path, host="127.0.0.1", intake_port=28001, router_port=28002, tracker_port=28003)
    rendered: dict[str, Any] = yaml.safe_load(prometheus.render_config(settings, project_root=Path("/p")))
    return rendered


def test_scrapes_the_three_services_every_five_seconds(config: dict[str, Any]) -> None:
    assert config["global"]["scrape_interval"] == "5s"
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert list(jobs) == ["intake", "router", "tracker"]
    assert jobs["intake"]["static_configs"] == [{"targets": ["127.0.0.1:28001"]}]
    assert jobs["router"]["static_configs"] == [{"targets": ["127.0.0.1:28002"]}]
    assert jobs["tracker"]["static_configs"] == [{"targets": ["127.0.0.1:28003"]}]
    assert all(job["metrics_path"] == "/metrics" for job in jobs.values())


def test_loads_the_project_rule_files_by_glob(config: dict[str, Any]) -> None:
    assert config["rule_files"] == ["/p/deploy/prometheus/rules/*.yml"]


def test_command_listens_where_the_settings_say(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("shutil.which", lambda name: f"/usr/bin/{name}")
    settings = Settings(stack_dir=tmp_path, host="127.0.0.1", prometheus_port=29090)
    command = prometheus.server_command(settings)
    assert "--web.listen-address=127.0.0.1:29090" in command
    assert f"--storage.tsdb.path={tmp_path / 'prometheus'}" in command
    assert prometheus.marker(settings) in command


def test_missing_prometheus_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("shutil.which", lambda name: None)
    with pytest.raises(StackError, match=r"prometheus not found.*apt-get install prometheus"):
        prometheus.preflight(Settings())
