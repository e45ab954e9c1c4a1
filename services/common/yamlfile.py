"""YAML that remembers where things are, so every message can say `file:line`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from services.common.rule_problems import Problem


class YMap(dict[str, Any]):
    line: int = 0
    key_lines: dict[str, int]

    def line_of(self, key: str) -> int:
        return self.key_lines.get(key, self.line)


class YList(list[Any]):
    line: int = 0
    item_lines: list[int]

    def line_at(self, index: int) -> int:
        return self.item_lines[index] if index < len(self.item_lines) else self.line


class YamlFile:
    def __init__(self, path: Path, shown_as: str) -> None:
        self.path = path
        self.shown_as = shown_as
        self.problems: list[Problem] = []
        self.data: Any = None
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as error:
            self.problem(1, f"cannot read: {error}")
            return
        loader = yaml.SafeLoader(text)
        try:
            node = loader.get_single_node()
            self.data = None if node is None else self._convert(loader, node)
        except yaml.YAMLError as error:
            mark = getattr(error, "problem_mark", None)
            line = mark.line + 1 if mark is not None else 1
            self.problem(line, f"invalid YAML: {getattr(error, 'problem', None) or error}")
        finally:
            loader.dispose()

    def problem(self, line: int, message: str) -> None:
        self.problems.append(Problem(self.shown_as, line, message))

    def _convert(self, loader: yaml.SafeLoader, node: yaml.Node) -> Any:
        line = node.start_mark.line + 1
        if isinstance(node, yaml.MappingNode):
            mapping = YMap()
            mapping.line = line
            mapping.key_lines = {}
            for key_node, value_node in node.value:
                key = loader.construct_object(key_node, deep=True)
                key_text = str(key)
                key_line = key_node.start_mark.line + 1
                if key_text in mapping:
                    self.problem(key_line, f"duplicate key {key_text!r}")
                mapping[key_text] = self._convert(loader, value_node)
                mapping.key_lines[key_text] = key_line
            return mapping
        if isinstance(node, yaml.SequenceNode):
            sequence = YList()
            sequence.line = line
            sequence.item_lines = []
            for item in node.value:
                sequence.append(self._convert(loader, item))
                sequence.item_lines.append(item.start_mark.line + 1)
            return sequence
        return loader.construct_object(node, deep=True)


def line_of(value: Any, default: int) -> int:
    return int(getattr(value, "line", default))
