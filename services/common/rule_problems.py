"""Problems found in rule files (rules/), reported as `file:line: message`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, order=True)
class Problem:
    file: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.message}"


class RuleError(Exception):
    """The rule files cannot be used; `str()` lists one `file:line: message` per line."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("\n".join(str(problem) for problem in problems))
        self.problems = problems


def display_path(path: Path, root: Path) -> str:
    """The path as rule authors see it: relative to the directory above rules/ when possible."""
    try:
        return str(path.relative_to(root.parent))
    except ValueError:
        return str(path)
