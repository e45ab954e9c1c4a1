"""Reading rules/ into CompiledRules, with a `file:line` problem for everything that is wrong."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any

from services.common.directory import Directory
from services.common.rule_problems import Problem, RuleError, display_path
from services.common.rules_files import RulesReader
from services.common.yamlfile import YamlFile, YList, YMap
from services.router.conditions import Condition, FactSpec, Test, parse_test, render
from services.router.facts import FLAGS, vocabulary
from services.router.model import (
    HIT_POLICIES,
    TABLE_NAMES,
    TABLE_SPECS,
    CompiledRules,
    OutputSpec,
    Rule,
    Table,
    TableSpec,
)

RULE_ID = re.compile(r"^[a-z0-9][a-z0-9_.\-]*$")
# Not part of the ruleset version (nor are *.md files): they do not change decisions.
UNVERSIONED_DIRS = ("tests", "__pycache__")


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


class _Loader(RulesReader):
    """The files every service reads (RulesReader), then the decision tables and policy names."""

    def load(self) -> CompiledRules | None:
        files = self.read_files()
        policies = self.load_policy_names() if self.root.is_dir() else None
        if files is None:
            return None
        deployment, directory, categories = files.deployment, files.directory, files.categories
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
