"""The Dockerfile's invariants that a build would only reveal on a machine with a Docker engine."""

from __future__ import annotations

import re
import tomllib

from services.common.settings import PROJECT_ROOT

DOCKERFILE = (PROJECT_ROOT / "Dockerfile").read_text(encoding="utf-8")
DOCKERIGNORE = (PROJECT_ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()


def instructions(name: str) -> list[str]:
    return re.findall(rf"^{name}\s+(.+)$", DOCKERFILE, flags=re.MULTILINE)


def test_base_image_is_a_supported_python() -> None:
    bases = [line.split()[0] for line in instructions("FROM")]
    assert bases and all(base == "python:3.11-slim-bookworm" for base in bases), bases
    requires = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())["project"]["requires-python"]
    assert ">=3.11" in requires  # durable_rules does not import on 3.13


def test_runs_as_a_non_root_user() -> None:
    users = instructions("USER")
    assert users and users[-1].strip() not in ("root", "0"), "the last USER must not be root"


def test_build_context_keeps_what_the_copies_need_and_nothing_else() -> None:
    patterns = [line.strip() for line in DOCKERIGNORE if line.strip() and not line.startswith("#")]
    assert patterns[0] == "*", "allow-list: everything is excluded unless named"
    allowed = {p[1:].rstrip("/") for p in patterns if p.startswith("!")}
    for args in instructions("COPY"):
        if "--from=" in args:
            continue
        *sources, _target = [a for a in args.split() if not a.startswith("--")]
        for source in sources:
            assert source.split("/")[0].replace("[d]", "d") in allowed, f"COPY {source} is not in the context"
    assert not allowed & {".venv", ".git", ".stack", "tests"}
