"""Reading rules/ into CompiledRules, with a `file:line` problem for everything that is wrong."""

from __future__ import annotations

import hashlib
import re
from datetime import date
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from services.common.regions import RegionTree, official_regions
from services.router.conditions import Condition, FactSpec, Test, parse_test, render
from services.router.directory import Directory, Supervision
from services.router.facts import FLAGS, vocabulary
from services.router.model import (
    HIT_POLICIES,
    LEVEL_NAMES,
    TABLE_NAMES,
    TABLE_SPECS,
    CompiledRules,
    Deployment,
    OutputSpec,
    Rule,
    SensitiveWindow,
    Table,
    TableSpec,
)
from services.router.problems import Problem, RuleError, display_path
from services.router.yamlfile import YamlFile, YList, YMap

RULE_ID = re.compile(r"^[a-z0-9][a-z0-9_.\-]*$")
VILLAGE = re.compile(r"[0-9]{12}")
DAY = re.compile(r"^(\d{4}-)?\d{2}-\d{2}$")
# Not part of the ruleset version (nor are *.md files): they do not change decisions.
UNVERSIONED_DIRS = ("tests", "__pycache__")


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


def load_rules(rules_dir: Path, *, check: bool = True) -> CompiledRules:
    """Load and validate rules/; with `check`, also the semantic checks of `xf rules check`."""
    loader = _Loader(rules_dir)
    rules = loader.load()
    problems = list(loader.problems)
    # Meaning is checked once the files are well-formed: a rule with a broken condition would
    # otherwise look like it matches everything.
    if rules is not None and check and not problems:
        from services.router.check import check_rules  # the checks need a loaded rule set

        problems += check_rules(rules)
    if problems or rules is None:
        raise RuleError(sorted(set(problems)) or [Problem(str(rules_dir), 1, "no rules")])
    return rules


def ruleset_version(rules_dir: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(rules_dir.rglob("*")):
        relative = path.relative_to(rules_dir)
        if not path.is_file() or relative.parts[0] in UNVERSIONED_DIRS:
            continue
        if any(part.startswith(".") for part in relative.parts) or path.suffix == ".md":
            continue
        digest.update(relative.as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return "sha256:" + digest.hexdigest()[:16]


class _Loader:
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

    def load(self) -> CompiledRules | None:
        if not self.root.is_dir():
            self.problems.append(Problem(str(self.root), 1, "rules directory not found"))
            return None
        tree = self.load_villages(official_regions())
        categories = self.load_categories()
        deployment, scope = self.load_deployment(tree_codes=tree)
        directory = self.load_directory(tree, scope)
        policies = self.load_policy_names()
        if deployment is None or directory is None:
            return None
        steps = vocabulary(frozenset(categories), frozenset(directory.departments))
        tables: dict[str, Table] = {}
        seen_ids: dict[str, Rule] = {}
        for spec in TABLE_SPECS:
            table = self.load_table(spec, steps, directory, policies, seen_ids)
            if table is not None:
                tables[spec.name] = table
        for path in sorted((self.root / "tables").glob("*.yaml")):
            if path.stem not in TABLE_NAMES:
                self.problems.append(
                    Problem(display_path(path, self.root), 1, f"unknown table {path.stem!r} (tables: {TABLE_NAMES})")
                )
        if len(tables) != len(TABLE_SPECS):
            return None
        return CompiledRules(
            root=self.root,
            version=ruleset_version(self.root),
            deployment=deployment,
            directory=directory,
            categories=categories,
            tables=tables,
            deadline_policies=policies,
        )

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
            if level not in LEVEL_NAMES:
                document.problem(levels.line_of(level), f"unknown level {level!r} (levels: {LEVEL_NAMES})")
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
            if level not in LEVEL_NAMES:
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

    def load_policy_names(self) -> frozenset[str] | None:
        document = self.read("deadlines.yaml", required=False)
        if document is None:
            return None
        policies = document.data.get("policies") if isinstance(document.data, dict) else None
        if not isinstance(policies, dict):
            document.problem(1, "deadlines.yaml has no `policies:` mapping")
            self.flush(document)
            return frozenset()
        return frozenset(str(name) for name in policies)

    # --- tables --------------------------------------------------------------------------------

    def load_table(
        self,
        spec: TableSpec,
        steps: dict[str, list[FactSpec]],
        directory: Directory,
        policies: frozenset[str] | None,
        seen_ids: dict[str, Rule],
    ) -> Table | None:
        document = self.read(f"tables/{spec.name}.yaml")
        if document is None or document.data is None:
            return None
        facts = {fact.name: fact for step in spec.sees for fact in steps[step]}
        top = self.mapping(document, document.data, 1, f"table {spec.name}")
        self.keys(
            document, top, {"table", "hit", "description", "rules"}, {"table", "hit", "rules"}, f"table {spec.name}"
        )
        if top.get("table", spec.name) != spec.name:
            document.problem(top.line_of("table"), f"table name {top.get('table')!r} does not match the file name")
        hit = str(top.get("hit", ""))
        if hit not in HIT_POLICIES:
            document.problem(top.line_of("hit"), f"unknown hit policy {hit!r} (one of {HIT_POLICIES})")
            hit = "first"
        raw_rules = top.get("rules")
        if not isinstance(raw_rules, YList) or not raw_rules:
            document.problem(top.line_of("rules"), "rules must be a non-empty list")
            self.flush(document)
            return None
        rules: list[Rule] = []
        for index, raw in enumerate(raw_rules):
            rule = self.load_rule(document, spec, hit, raw, raw_rules.line_at(index), index, facts, directory, policies)
            if rule is None:
                continue
            if rule.id in seen_ids:
                first = seen_ids[rule.id]
                document.problem(
                    rule.line, f"duplicate rule id {rule.id!r} (first defined at {first.file}:{first.line})"
                )
            else:
                seen_ids[rule.id] = rule
            rules.append(rule)
        defaults = [rule for rule in rules if rule.is_default]
        if len(defaults) > 1 or (not defaults and hit != "collect"):
            where = defaults[1].line if len(defaults) > 1 else raw_rules.line
            document.problem(
                where,
                f"table {spec.name} needs exactly one default rule (`otherwise: true`), found {len(defaults)}"
                + (" (collect tables: at most one)" if hit == "collect" else ""),
            )
        if hit == "priority":
            by_priority: dict[int, Rule] = {}
            for rule in rules:
                if rule.priority in by_priority:
                    document.problem(
                        rule.line, f"priority {rule.priority} also used by {by_priority[rule.priority].id!r}"
                    )
                by_priority[rule.priority] = rule
            rules.sort(key=lambda rule: rule.priority)
        if defaults and rules and rules[-1] is not defaults[0] and hit in ("first", "priority"):
            document.problem(defaults[0].line, f"default rule {defaults[0].id!r} must come last")
        self.flush(document)
        return Table(spec.name, hit, document.shown_as, top.line, tuple(rules), facts)

    def load_rule(
        self,
        document: YamlFile,
        spec: TableSpec,
        hit: str,
        raw: Any,
        line: int,
        index: int,
        facts: dict[str, FactSpec],
        directory: Directory,
        policies: frozenset[str] | None,
    ) -> Rule | None:
        entry = self.mapping(document, raw, line, "rule")
        allowed = {"id", "when", "otherwise", "then", "priority", "note"}
        self.keys(document, entry, allowed, {"id", "then"} | ({"priority"} if hit == "priority" else set()), "rule")
        rule_id = entry.get("id")
        if not isinstance(rule_id, str) or not RULE_ID.match(rule_id):
            document.problem(entry.line_of("id"), f"rule id {rule_id!r} must be lower case letters, digits, . _ -")
            return None
        is_default = entry.get("otherwise") is True
        if is_default and "when" in entry:
            document.problem(entry.line_of("when"), f"{rule_id}: a default rule (`otherwise: true`) has no `when`")
        if not is_default and "when" not in entry:
            document.problem(entry.line, f"{rule_id}: needs `when:` (or `otherwise: true` for the default rule)")
        tests: list[Test] = []
        when = entry.get("when", YMap())
        when = self.mapping(document, when, entry.line_of("when"), f"{rule_id}: when")
        for fact_name, raw_test in when.items():
            fact_line = when.line_of(fact_name)
            fact = facts.get(fact_name)
            if fact is None:
                document.problem(fact_line, f"{rule_id}: unknown fact {fact_name!r} for table {spec.name}")
                continue
            test, error = parse_test(fact, raw_test)
            if test is None:
                document.problem(fact_line, f"{rule_id}: {error}")
            elif test.is_empty():
                document.problem(fact_line, f"{rule_id}: {test.written} can never hold")
            else:
                tests.append(test)
        then = self.mapping(document, entry.get("then"), entry.line_of("then"), f"{rule_id}: then")
        outputs: dict[str, Any] = {}
        for key, value in then.items():
            output = spec.outputs.get(key)
            if output is None:
                document.problem(
                    then.line_of(key),
                    f"{rule_id}: table {spec.name} has no output {key!r} (outputs: {sorted(spec.outputs)})",
                )
                continue
            message = self.output_problem(output, value, directory, policies)
            if message:
                document.problem(then.line_of(key), f"{rule_id}: {key}: {message}")
            outputs[key] = list(value) if isinstance(value, list) else value
        if hit != "collect":
            for key, output in spec.outputs.items():
                if output.required and key not in then:
                    document.problem(then.line, f"{rule_id}: missing output {key!r}")
        priority = entry.get("priority", index + 1)
        if isinstance(priority, bool) or not isinstance(priority, int):
            document.problem(entry.line_of("priority"), f"{rule_id}: priority must be a whole number")
            priority = index + 1
        return Rule(
            id=rule_id,
            table=spec.name,
            file=document.shown_as,
            line=entry.line,
            condition=Condition(tuple(tests)),
            outputs=outputs,
            is_default=is_default,
            priority=priority,
            description=str(entry.get("note", "")),
        )

    @staticmethod
    def output_problem(output: OutputSpec, value: Any, directory: Directory, policies: frozenset[str] | None) -> str:
        if output.kind == "enum":
            return "" if value in output.domain else f"unknown value {render(value)!r} (one of {list(output.domain)})"
        if output.kind == "department":
            return "" if value in directory.departments else f"unknown department {render(value)!r}"
        if output.kind == "departments":
            if not isinstance(value, list):
                return "must be a list of departments"
            unknown = [item for item in value if item not in directory.departments]
            return f"unknown department {unknown[0]!r}" if unknown else ""
        if output.kind == "flags":
            if not isinstance(value, list):
                return "must be a list of flags"
            unknown = [item for item in value if item not in FLAGS]
            return f"unknown flag {unknown[0]!r} (flags: {list(FLAGS)})" if unknown else ""
        if output.kind == "role":
            if value is None or value in directory.leader_roles:
                return ""
            return (
                f"unknown leader role {render(value)!r} (directory.yaml leader_roles: {sorted(directory.leader_roles)})"
            )
        if output.kind == "int":
            ok = value is None or (isinstance(value, int) and not isinstance(value, bool) and value > 0)
            return "" if ok else "must be a positive whole number or null"
        if output.kind == "policy":
            if not isinstance(value, str):
                return "must be a policy name"
            if policies is not None and value not in policies:
                return f"unknown deadline policy {value!r} (rules/deadlines.yaml policies: {sorted(policies)})"
        return ""
