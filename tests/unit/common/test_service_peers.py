"""The three services are peers on a bus: no module of intake, router or tracker imports another of them.

What they share lives in services/common and services/access. The imports are read from the source
(the AST, including imports inside functions and under TYPE_CHECKING), so a late import is caught too.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SERVICES = ("intake", "router", "tracker")
# What the services share: it stands below all three and imports none of them.
SHARED = ("common", "access")
ROOT = Path(__file__).resolve().parents[3] / "services"


def imported_modules(source: str) -> set[str]:
    """Every module a source names in an import (`from a.b import c` counts `a.b` and `a.b.c`)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def foreign_service(module: str, own: str) -> str | None:
    """The other service a module name belongs to, else None."""
    parts = module.split(".")
    if len(parts) >= 2 and parts[0] == "services" and parts[1] in SERVICES and parts[1] != own:
        return parts[1]
    return None


def crossings(service: str) -> list[str]:
    found = []
    for path in sorted((ROOT / service).rglob("*.py")):
        for module in sorted(imported_modules(path.read_text(encoding="utf-8"))):
            if foreign_service(module, service):
                found.append(f"{path.relative_to(ROOT.parent)} imports {module}")
    return found


@pytest.mark.parametrize("service", SERVICES)
def test_a_service_imports_no_other_service(service: str) -> None:
    assert (ROOT / service / "__init__.py").exists()
    assert crossings(service) == []


@pytest.mark.parametrize("shared", SHARED)
def test_shared_code_imports_no_service(shared: str) -> None:
    assert (ROOT / shared / "__init__.py").exists()
    assert crossings(shared) == []


def test_the_walk_sees_every_form_of_import() -> None:
    source = """
import services.router.load
from services import tracker
from services.intake.auth import Client
def late():
    from services.router.load import load_rules
"""
    modules = imported_modules(source)
    assert {foreign_service(m, "common") for m in modules} >= {"router", "tracker", "intake"}
    assert foreign_service("services.intake.auth", "intake") is None
    assert foreign_service("services.common.paging", "tracker") is None
