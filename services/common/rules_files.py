"""The reader of rules/ for every service: the deployment (scope, time zone, sensitive periods), the
organisation directory and the categories, read and checked (`file:line: problem`) without compiling
the router's decision tables. The router's loader (services.router.load) builds its tables on it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from services.common.deployment import Deployment, SensitiveWindow
from services.common.directory import Directory, Supervision
from services.common.regions import LEVELS_BY_RANK, RegionTree, official_regions
from services.common.rule_problems import Problem, RuleError, display_path
from services.common.yamlfile import YamlFile, YList, YMap

VILLAGE = re.compile(r"[0-9]{12}")
DAY = re.compile(r"^(\d{4}-)?\d{2}-\d{2}$")


@dataclass(frozen=True)
class RulesFiles:
    """What rules/ says about the deployment, apart from the decision tables and deadline policies."""

    deployment: Deployment
    directory: Directory
    categories: dict[str, str]  # code -> name


def read_rules_files(rules_dir: Path) -> RulesFiles:
    """deployment.yaml, directory.yaml, categories.yaml (and villages.yaml) of `rules_dir`. Raises
    RuleError (one `file:line: problem` per line) when any of them is wrong."""
    reader = RulesReader(rules_dir)
    found = reader.read_files()
    if reader.problems or found is None:
        raise RuleError(sorted(set(reader.problems)) or [Problem(str(rules_dir), 1, "no rules")])
    return found


def _real_day(value: str, calendar: str) -> bool:
    """A real month and day (29 February and lunar 30th days allowed: some years have them)."""
    *_, month, day = (int(part) for part in value.split("-"))
    if len(value) == 10:
        try:
            date.fromisoformat(value)
        except ValueError:
            return False
        return True
    return 1 <= month <= 12 and 1 <= day <= (30 if calendar == "lunar" else _DAYS_IN_MONTH[month - 1])


_DAYS_IN_MONTH = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


class RulesReader:
    """Reads rule files, collecting a Problem for everything wrong (subclassed by the router's loader)."""

    def __init__(self, rules_dir: Path) -> None:
        self.root = rules_dir
        self.problems: list[Problem] = []

    # --- helpers -------------------------------------------------------------------------------

    def read(self, relative: str, *, required: bool = True) -> YamlFile | None:
        path = self.root / relative
        if not path.exists():
            if required:
                self.problems.append(Problem(display_path(path, self.root), 1, "missing rule file"))
            return None
        document = YamlFile(path, display_path(path, self.root))
        self.problems += document.problems
        return document

    def mapping(self, document: YamlFile, value: Any, line: int, what: str) -> YMap:
        if isinstance(value, YMap):
            return value
        document.problem(line, f"{what} must be a mapping")
        empty = YMap()
        empty.line, empty.key_lines = line, {}
        return empty

    def keys(self, document: YamlFile, mapping: YMap, allowed: set[str], required: set[str], what: str) -> None:
        for key in mapping:
            if key not in allowed:
                document.problem(mapping.line_of(key), f"{what}: unknown key {key!r} (allowed: {sorted(allowed)})")
        for key in sorted(required - set(mapping)):
            document.problem(mapping.line, f"{what}: missing {key!r}")

    def flush(self, document: YamlFile) -> None:
        self.problems += document.problems
        document.problems = []

    # --- files ---------------------------------------------------------------------------------

    def read_files(self) -> RulesFiles | None:
        if not self.root.is_dir():
            self.problems.append(Problem(str(self.root), 1, "rules directory not found"))
            return None
        tree = self.load_villages(official_regions())
        categories = self.load_categories()
        deployment, scope = self.load_deployment(tree_codes=tree)
        directory = self.load_directory(tree, scope)
        if deployment is None or directory is None:
            return None
        return RulesFiles(deployment, directory, categories)

    def load_categories(self) -> dict[str, str]:
        document = self.read("categories.yaml")
        if document is None or document.data is None:
            return {}
        top = self.mapping(document, document.data, 1, "categories.yaml")
        self.keys(document, top, {"categories"}, {"categories"}, "categories.yaml")
        entries = self.mapping(document, top.get("categories", YMap()), top.line_of("categories"), "categories")
        result: dict[str, str] = {}
        for code, name in entries.items():
            if not re.fullmatch(r"[a-z][a-z_]*", code):
                document.problem(entries.line_of(code), f"category code {code!r} must be lower_snake_case")
            result[code] = str(name)
        self.flush(document)
        return result

    def load_villages(self, tree: RegionTree) -> RegionTree:
        """villages.yaml (optional): 12-digit village/community codes under towns of the official table."""
        document = self.read("villages.yaml", required=False)
        if document is None or document.data is None:
            return tree
        top = self.mapping(document, document.data, 1, "villages.yaml")
        self.keys(document, top, {"villages"}, {"villages"}, "villages.yaml")
        entries = self.mapping(document, top.get("villages", YMap()), top.line_of("villages"), "villages")
        villages: list[tuple[str, str]] = []
        for code, name in entries.items():
            line = entries.line_of(code)
            code = str(code)
            if not VILLAGE.fullmatch(code) or code.endswith("000"):
                document.problem(line, f"village code {code!r} must be 12 digits, not ending in 000")
            elif code[:9] not in tree or tree.level(code[:9]) != "town":
                document.problem(line, f"village {code!r}: its first 9 digits are not a town of the region table")
            elif not isinstance(name, str) or not name.strip() or len(name) > 64:
                document.problem(line, f"village {code!r}: its name must be text of 1-64 characters")
            else:
                villages.append((code, name.strip()))
        self.flush(document)
        return tree.with_villages(villages) if villages else tree

    def load_deployment(self, tree_codes: Any) -> tuple[Deployment | None, tuple[str, ...]]:
        document = self.read("deployment.yaml")
        if document is None or document.data is None:
            return None, ()
        top = self.mapping(document, document.data, 1, "deployment.yaml")
        self.keys(
            document, top, {"name", "timezone", "scope", "sensitive_periods"}, {"timezone", "scope"}, "deployment"
        )
        try:
            zone = ZoneInfo(str(top.get("timezone", "Asia/Shanghai")))
        except (ZoneInfoNotFoundError, ValueError):
            document.problem(top.line_of("timezone"), f"unknown time zone {top.get('timezone')!r}")
            zone = ZoneInfo("Asia/Shanghai")
        scope: list[str] = []
        raw_scope = top.get("scope", [])
        if not isinstance(raw_scope, YList) or not raw_scope:
            document.problem(top.line_of("scope"), "scope must be a non-empty list of region codes")
        else:
            for index, code in enumerate(raw_scope):
                if str(code) not in tree_codes:
                    document.problem(raw_scope.line_at(index), f"unknown region {code!r} in scope")
                else:
                    scope.append(str(code))
        windows: list[SensitiveWindow] = []
        raw_windows = top.get("sensitive_periods", [])
        if not isinstance(raw_windows, list):
            document.problem(top.line_of("sensitive_periods"), "sensitive_periods must be a list")
            raw_windows = []
        for index, raw in enumerate(raw_windows):
            line = raw_windows.line_at(index) if isinstance(raw_windows, YList) else top.line
            entry = self.mapping(document, raw, line, "sensitive period")
            allowed = {"id", "name", "from", "to", "calendar"}
            self.keys(document, entry, allowed, {"id", "from", "to"}, "sensitive period")
            start, end = str(entry.get("from", "")), str(entry.get("to", ""))
            calendar = str(entry.get("calendar", "solar"))
            if calendar not in ("solar", "lunar"):
                document.problem(entry.line_of("calendar"), f"calendar must be solar or lunar, not {calendar!r}")
                continue
            if not (DAY.match(start) and DAY.match(end) and len(start) == len(end)):
                document.problem(entry.line, "from/to must both be MM-DD (every year) or both YYYY-MM-DD")
                continue
            if not all(_real_day(value, calendar) for value in (start, end)):
                document.problem(entry.line, f"from/to: {start}..{end} is not a real {calendar} date")
                continue
            if calendar == "lunar" and len(start) == 10:
                document.problem(entry.line, "a lunar window repeats every year: from/to are MM-DD")
                continue
            windows.append(SensitiveWindow(str(entry.get("id")), str(entry.get("name", "")), start, end, calendar))
        self.flush(document)
        return Deployment(str(top.get("name", "")), zone, tuple(windows)), tuple(scope)

    def load_directory(self, tree: Any, scope: tuple[str, ...]) -> Directory | None:
        document = self.read("directory.yaml")
        if document is None or document.data is None:
            return None
        top = self.mapping(document, document.data, 1, "directory.yaml")
        allowed = {"departments", "levels", "regions", "supervision", "unit_supervisors", "leader_roles"}
        self.keys(document, top, allowed, {"departments", "levels", "leader_roles"}, "directory")
        departments = {
            str(k): str(v) for k, v in self.mapping(document, top.get("departments"), 1, "departments").items()
        }

        def known_departments(values: Any, line: int, what: str) -> frozenset[str]:
            if not isinstance(values, list):
                document.problem(line, f"{what} must be a list of departments")
                return frozenset()
            for index, value in enumerate(values):
                if value not in departments:
                    at = values.line_at(index) if isinstance(values, YList) else line
                    document.problem(at, f"unknown department {value!r} in {what}")
            return frozenset(str(value) for value in values if value in departments)

        levels = self.mapping(document, top.get("levels"), top.line_of("levels"), "levels")
        by_level: dict[str, frozenset[str]] = {}
        for level, values in levels.items():
            if level not in LEVELS_BY_RANK:
                document.problem(levels.line_of(level), f"unknown level {level!r} (levels: {LEVELS_BY_RANK})")
                continue
            by_level[level] = known_departments(values, levels.line_of(level), f"levels.{level}")
        added: dict[str, frozenset[str]] = {}
        removed: dict[str, frozenset[str]] = {}
        regions = self.mapping(document, top.get("regions", YMap()), top.line_of("regions"), "regions")
        for code, change in regions.items():
            line = regions.line_of(code)
            if code not in tree:
                document.problem(line, f"unknown region {code!r}")
                continue
            entry = self.mapping(document, change, line, f"regions.{code}")
            self.keys(document, entry, {"add", "remove", "name"}, set(), f"regions.{code}")
            if "add" in entry:
                added[code] = known_departments(entry["add"], entry.line_of("add"), f"regions.{code}.add")
            if "remove" in entry:
                removed[code] = known_departments(entry["remove"], entry.line_of("remove"), f"regions.{code}.remove")
        supervision: dict[tuple[str, str], Supervision] = {}
        raw_supervision = top.get("supervision", [])
        for index, raw in enumerate(raw_supervision if isinstance(raw_supervision, list) else []):
            line = raw_supervision.line_at(index) if isinstance(raw_supervision, YList) else 1
            entry = self.mapping(document, raw, line, "supervision entry")
            self.keys(
                document,
                entry,
                {"level", "department", "at", "supervisor"},
                {"level", "department", "supervisor"},
                "supervision",
            )
            level, department = str(entry.get("level")), str(entry.get("department"))
            supervisor, at = str(entry.get("supervisor")), str(entry.get("at", "up"))
            if level not in LEVELS_BY_RANK:
                document.problem(entry.line_of("level"), f"unknown level {level!r}")
            for key, value in (("department", department), ("supervisor", supervisor)):
                if value not in departments:
                    document.problem(entry.line_of(key), f"unknown department {value!r}")
            if at not in ("up", "here"):
                document.problem(entry.line_of("at"), "at must be `up` or `here`")
            supervision[(level, department)] = Supervision(at, supervisor)
        leader_roles = {
            str(k): str(v)
            for k, v in self.mapping(
                document, top.get("leader_roles"), top.line_of("leader_roles"), "leader_roles"
            ).items()
        }
        directory = Directory(tree, scope, departments, by_level, added, removed, supervision, {}, leader_roles)
        unit_supervisors: dict[str, str] = {}
        raw_units = self.mapping(
            document, top.get("unit_supervisors", YMap()), top.line_of("unit_supervisors"), "unit_supervisors"
        )
        for unit, supervisor in raw_units.items():
            for value in (unit, str(supervisor)):
                if not directory.has_unit(value):
                    document.problem(raw_units.line_of(unit), f"unknown unit {value!r}")
            unit_supervisors[unit] = str(supervisor)
        self.flush(document)
        return Directory(
            tree, scope, departments, by_level, added, removed, supervision, unit_supervisors, leader_roles
        )
