"""`xf rules diff --against REV`: the decisions that change between two versions of the rules."""

from __future__ import annotations

import io
import json
import subprocess
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from services.common.schemas import ANY_TIME, ReceivedCase
from services.router.decide import Router
from services.router.load import load_rules
from services.router.model import CompiledRules
from services.router.problems import CaseError


class DiffError(RuntimeError):
    pass


@dataclass
class Change:
    case_id: str
    label: str
    fields: dict[str, tuple[Any, Any]]  # field -> (before, after)


def export_revision(rules_dir: Path, revision: str, into: Path) -> Path:
    """Writes rules/ as it was at `revision` (git archive) under `into`; returns that copy's path."""
    rules_dir = rules_dir.resolve()

    def git(*args: str, cwd: Path = rules_dir) -> bytes:
        result = subprocess.run(["git", "-C", str(cwd), *args], capture_output=True, check=False)
        if result.returncode != 0:
            raise DiffError(f"git {' '.join(args)}: {result.stderr.decode(errors='replace').strip()}")
        return result.stdout

    top = Path(git("rev-parse", "--show-toplevel").decode().strip())
    prefix = rules_dir.relative_to(top).as_posix()
    archive = git("archive", "--format=tar", revision, "--", prefix, cwd=top)
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")
    return into / prefix


def read_cases(paths: list[Path]) -> list[tuple[str, ReceivedCase]]:
    """Recorded cases: a JSON object, a JSON array, or JSON lines (one case per line)."""
    cases = []
    for path in paths:
        text = path.read_text(encoding="utf-8").strip()
        if text.startswith("["):
            items = json.loads(text)
        elif text.startswith("{") and "\n{" not in text:
            items = [json.loads(text)]
        else:
            items = [json.loads(line) for line in text.splitlines() if line.strip()]
        for item in items:
            body = item.get("data", item) if isinstance(item, dict) else item  # envelopes carry it in `data`
            case = ReceivedCase.model_validate(body, context=ANY_TIME)
            cases.append((f"{path.name}", case))
    return cases


def decide_all(rules: CompiledRules, cases: list[tuple[str, ReceivedCase]]) -> list[dict[str, Any]]:
    router = Router(rules)
    try:
        results = []
        for _, case in cases:
            try:
                results.append(router.decide(case).model_dump(mode="json"))
            except CaseError as error:
                results.append({"error": str(error)})
        return results
    finally:
        router.close()


def diff_decisions(
    before: CompiledRules, after: CompiledRules, cases: list[tuple[str, ReceivedCase]], *, with_trace: bool
) -> list[Change]:
    ignored = {"ruleset_version"} | (set() if with_trace else {"trace"})
    changes = []
    for (label, case), old, new in zip(cases, decide_all(before, cases), decide_all(after, cases), strict=True):
        fields = {
            key: (old.get(key), new.get(key))
            for key in sorted(set(old) | set(new))
            if key not in ignored and old.get(key) != new.get(key)
        }
        if fields:
            changes.append(Change(case.case_id, label, fields))
    return changes


def load_revision(rules_dir: Path, revision: str, scratch: Path) -> CompiledRules:
    return load_rules(export_revision(rules_dir, revision, scratch), check=False)
