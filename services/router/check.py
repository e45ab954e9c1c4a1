"""Semantic checks of `xf rules check`: shadowed rules, conflicting overlaps, competence gaps."""

from __future__ import annotations

from collections import defaultdict

from services.common.rule_problems import Problem
from services.router.conditions import FactSpec, Scalar
from services.router.decide import deciding_rules
from services.router.facts import Facts
from services.router.model import CompiledRules, Rule, Table

BASELINE: dict[str, Scalar] = {
    "channel": "letter",
    "litigation": "none",
    "people_count": 1,
    "target_department": "none",
    "target_level": "none",
    "received_department": "petition",
}


def check_rules(rules: CompiledRules) -> list[Problem]:
    problems: list[Problem] = []
    for table in rules.tables.values():
        if table.hit in ("first", "priority"):
            problems += shadowed(table)
        if table.hit == "unique":
            problems += conflicting(table)
    problems += gaps(rules)
    from services.router.invariants import urgency_monotone  # it runs the tables: after the loader is done

    problems += urgency_monotone(rules)
    return problems


def shadowed(table: Table) -> list[Problem]:
    problems = []
    specific = [rule for rule in table.rules if not rule.is_default]
    for position, rule in enumerate(specific):
        for earlier in specific[:position]:
            if rule.condition.within(earlier.condition):
                problems.append(
                    Problem(
                        rule.file,
                        rule.line,
                        f"rule {rule.id!r} is shadowed by {earlier.id!r} ({earlier.file}:{earlier.line}): "
                        f"every case it matches is taken first by {earlier.condition.describe()!r}",
                    )
                )
                break
    return problems


def conflicting(table: Table) -> list[Problem]:
    problems = []
    specific = [rule for rule in table.rules if not rule.is_default]
    for position, rule in enumerate(specific):
        for earlier in specific[:position]:
            if rule.condition.meets(earlier.condition) and rule.outputs != earlier.outputs:
                problems.append(
                    Problem(
                        rule.file,
                        rule.line,
                        f"rule {rule.id!r} overlaps {earlier.id!r} ({earlier.file}:{earlier.line}) with a "
                        f"different outcome under hit policy unique ({_outcome(rule)} vs {_outcome(earlier)})",
                    )
                )
    return problems


def _outcome(rule: Rule) -> str:
    return ", ".join(f"{key}={value}" for key, value in rule.outputs.items())


def baseline_facts(facts: dict[str, FactSpec], category: str, matter_level: str) -> Facts:
    result: Facts = {}
    for name, spec in facts.items():
        if name in BASELINE:
            result[name] = BASELINE[name]
        elif spec.kind == "bool":
            result[name] = name == "in_scope"
        elif spec.kind == "int":
            result[name] = 0
        else:
            result[name] = sorted(spec.domain)[0]
    result["category"] = category
    result["matter_level"] = matter_level
    result["received_level"] = matter_level
    return result


def gaps(rules: CompiledRules) -> list[Problem]:
    """Categories with no competent unit for matters in some part of the scope."""
    directory = rules.directory
    table = rules.tables["competence"]
    regions_by_level: dict[str, list[str]] = defaultdict(list)
    for code in directory.scope_regions():
        regions_by_level[directory.tree.level(code)].append(code)
    problems = []
    for category in sorted(rules.categories):
        for matter_level, regions in regions_by_level.items():
            facts = baseline_facts(table.facts, category, matter_level)
            rule = deciding_rules(table, facts)[0]
            department, level = str(rule.outputs.get("department")), str(rule.outputs.get("level"))
            missing = [r for r in regions if directory.find_up(directory.at_or_above(r, level), department) is None]
            if missing:
                example = f"{missing[0]} {directory.tree.name(missing[0])}"
                problems.append(
                    Problem(
                        rule.file,
                        rule.line,
                        f"gap: category {category!r} has no competent {department!r} unit at or above {level} "
                        f"for {len(missing)} {matter_level}-level region(s) in scope (e.g. {example})",
                    )
                )
    return problems
