from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from services.common.settings import PROJECT_ROOT
from services.router.rules import CompiledRules, Router, load_rules

RULES_DIR = PROJECT_ROOT / "rules"


@pytest.fixture(scope="session")
def demo_rules() -> CompiledRules:
    return load_rules(RULES_DIR)


@pytest.fixture(scope="module")
def router(demo_rules: CompiledRules) -> Iterator[Router]:
    router = Router(demo_rules)
    yield router
    router.close()


@pytest.fixture
def rules_copy(tmp_path: Path) -> Path:
    """A private copy of the demo rules (without the tracker's deadlines.yaml) to break or change."""
    target = tmp_path / "rules"
    shutil.copytree(RULES_DIR, target, ignore=shutil.ignore_patterns("deadlines.yaml", "__pycache__"))
    return target
