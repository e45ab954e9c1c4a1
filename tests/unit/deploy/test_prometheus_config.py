"""promtool accepts deploy/prometheus: the config (with its rule_files), the rules, and their unit tests."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from services.common.settings import PROJECT_ROOT

PROMETHEUS_DIR = PROJECT_ROOT / "deploy" / "prometheus"
RULE_FILES = sorted((PROMETHEUS_DIR / "rules").glob("*.yml"))
RULE_TESTS = sorted((PROMETHEUS_DIR / "tests").glob("*.yml"))

PROMTOOL = shutil.which("promtool") or ("/usr/bin/promtool" if Path("/usr/bin/promtool").exists() else None)

pytestmark = pytest.mark.skipif(
    PROMTOOL is None,
    reason="promtool not installed (Debian package `prometheus`); cannot check deploy/prometheus",
)


def promtool(*args: str | Path) -> str:
    assert PROMTOOL is not None
    result = subprocess.run(
        [PROMTOOL, *map(str, args)], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=60, check=False
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, f"promtool {' '.join(map(str, args))} failed:\n{output}"
    return output


def test_there_are_rules_and_rule_tests() -> None:
    assert RULE_FILES, "deploy/prometheus/rules/ has no *.yml"
    assert RULE_TESTS, "deploy/prometheus/tests/ has no *.yml"


def test_check_config() -> None:
    # Run from the project root on purpose: rule_files must resolve relative to the config file.
    output = promtool("check", "config", PROMETHEUS_DIR / "prometheus.yml")
    assert f"SUCCESS: {len(RULE_FILES)} rule files found" in output
    for rule_file in RULE_FILES:
        assert rule_file.name in output, f"{rule_file.name} is not loaded by rule_files"


@pytest.mark.parametrize("rule_file", RULE_FILES, ids=lambda p: p.name)
def test_check_rules(rule_file: Path) -> None:
    promtool("check", "rules", rule_file)


@pytest.mark.parametrize("test_file", RULE_TESTS, ids=lambda p: p.name)
def test_rule_unit_tests(test_file: Path) -> None:
    promtool("test", "rules", test_file)


def test_every_rule_file_has_a_unit_test() -> None:
    tested = {
        (test_file.parent / rule_file).resolve()
        for test_file in RULE_TESTS
        for rule_file in yaml.safe_load(test_file.read_text(encoding="utf-8"))["rule_files"]
    }
    untested = [p.name for p in RULE_FILES if p.resolve() not in tested]
    assert not untested, f"rule files without a promtool test: {untested}"
