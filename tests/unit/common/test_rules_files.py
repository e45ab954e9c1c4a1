"""The services' reader of rules/ (services.common.rules_files): deployment, directory and categories,
read and checked without the router's decision tables."""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path

import pytest

from services.common.rule_problems import RuleError
from services.common.rules_files import read_rules_files

RULES = Path(__file__).resolve().parents[3] / "rules"


@pytest.fixture
def rules_copy(tmp_path: Path) -> Path:
    copy = tmp_path / "rules"
    shutil.copytree(RULES, copy)
    return copy


def test_the_shipped_files_are_read_as_data() -> None:
    files = read_rules_files(RULES)
    assert files.deployment.timezone.key == "Asia/Shanghai"
    assert files.directory.scope == ("150000",)
    assert files.directory.has_unit("150627:hrss")
    assert "wage_arrears" in files.categories
    assert files.deployment.window_on(date(2026, 10, 3)) is not None  # 国庆假期
    assert files.deployment.window_on(date(2026, 7, 1)) is None


def test_the_decision_tables_are_not_needed(rules_copy: Path) -> None:
    shutil.rmtree(rules_copy / "tables")
    (rules_copy / "deadlines.yaml").write_text("not: [a mapping of policies", encoding="utf-8")
    assert read_rules_files(rules_copy).directory.has_unit("150627:hrss")


def test_a_wrong_file_is_refused_with_its_line(rules_copy: Path) -> None:
    deployment = rules_copy / "deployment.yaml"
    deployment.write_text(deployment.read_text(encoding="utf-8").replace("Asia/Shanghai", "Mars/Olympus"))
    line = next(n for n, text in enumerate(deployment.read_text().splitlines(), 1) if "Mars/Olympus" in text)
    with pytest.raises(RuleError) as refused:
        read_rules_files(rules_copy)
    assert f"rules/deployment.yaml:{line}: unknown time zone 'Mars/Olympus'" in str(refused.value)


def test_a_missing_directory_is_refused(tmp_path: Path) -> None:
    with pytest.raises(RuleError, match="rules directory not found"):
        read_rules_files(tmp_path / "nowhere")
