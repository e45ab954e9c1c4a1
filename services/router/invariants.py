"""What `xf rules check` proves over the whole rule set, not on examples (DOMAIN.md §4.5b):

- the unit complained about never handles its own complaint: every unit of the directory in the
  scope × every category × the case shapes that reach each disposition (a matter in the unit's own
  region, in another city's town, outside the scope), received by that very unit (the worst case
  for `handler: receiver`), decided with the decision-time guard switched off;
- urgency is monotone: over every combination of the values the urgency table tests, a case that
  meets every urgency rule another case meets, and more, never gets a lower urgency or a longer
  `report_within_hours`.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from services.common.rule_problems import Problem
from services.common.schemas import Assignment, Channel, History, Litigation, Location, Residence
from services.router.conditions import INT_MAX, INT_MIN, Scalar
from services.router.decide import evaluate_in_python
from services.router.facts import Facts
from services.router.memo import Pipeline
from services.router.model import CompiledRules, Rule, Table
from services.router.problems import RoutingError
from services.router.steps import Routing, handling_unit, start

MAX_PROBLEMS = 20
MAX_POINTS = 200_000
URGENCY_RANK = {"normal": 0, "urgent": 1, "critical": 2}
PROBE_TIME = datetime.fromisoformat("2026-05-06T10:00:00+08:00")
NO_HISTORY = History()
NO_RESIDENCE = Residence()
OUTSIDE = "110101"  # a matter outside the scope: 北京市东城区 (only used when it is outside)


@dataclass(frozen=True)
class ProbeCase:
    """A received case as the router reads it (services/router/received.py), without pydantic's cost."""

    case_id: str
    received_by: str
    category: str
    location: Location
    target_unit: str | None
    history: History = NO_HISTORY
    litigation: Litigation = "none"
    channel: Channel = "letter"
    people_count: int = 1
    assignment: Assignment | None = None
    residence: Residence = NO_RESIDENCE
    new_facts: bool = False
    received_at: datetime = field(default=PROBE_TIME)


# How the case stands besides its unit and category; `location`: where the matter lies instead of the
# unit's own region — outside the scope, or in scope but apart from the unit (三跨).
SHAPES: dict[str, dict[str, Any]] = {
    "plain": {},
    "litigation": {"litigation": "pending"},
    "concluded": {"history": History(prior_cases=3, concluded=True)},
    "elsewhere": {"location": "outside"},
    "across": {"location": "apart"},
}


def own_complaints(rules: CompiledRules) -> list[Problem]:
    """Every (unit, category, shape) whose decision makes the unit complained about its handling unit."""
    directory = rules.directory
    pipeline = Pipeline(rules, evaluate_in_python(rules), guard=False)
    outside = OUTSIDE if OUTSIDE in directory.tree and not directory.in_scope(OUTSIDE) else None
    found: dict[str, list[str]] = {}
    batch: list[Routing] = []
    for case in _probes(rules, outside):
        try:
            batch.append(start(rules, case, pipeline.lookups))
        except RoutingError:
            continue
        if len(batch) >= 4096:
            _collect(pipeline, batch, found)
            batch = []
    _collect(pipeline, batch, found)
    problems = []
    by_id = {rule.id: rule for rule in rules.all_rules()}
    for rule_id, examples in sorted(found.items()):
        rule = by_id.get(rule_id)
        file, line = (rule.file, rule.line) if rule is not None else ("tables/disposition.yaml", 1)
        problems.append(
            Problem(
                file,
                line,
                f"the unit complained about would handle its own complaint in {len(examples)} case(s) decided "
                f"by {rule_id!r}, e.g. {examples[0]} (DOMAIN.md §4.5b)",
            )
        )
        if len(problems) >= MAX_PROBLEMS:
            break
    return problems


def _probes(rules: CompiledRules, outside: str | None) -> Iterator[ProbeCase]:
    directory = rules.directory
    categories = sorted(rules.categories)
    shapes = [
        (shape, {k: v for k, v in changes.items() if k != "location"}, changes.get("location"))
        for shape, changes in SHAPES.items()
    ]
    towns = _far_towns(rules)
    for region in directory.scope_regions():
        where: dict[str | None, Location] = {None: Location(region=region)}
        if outside is not None:
            where["outside"] = Location(region=outside)
        apart = next((town for town in towns if directory.apart(region, town)), None)
        if apart is not None:
            where["apart"] = Location(region=apart)
        for department in sorted(directory.departments_at(region)):
            unit = f"{region}:{department}"
            for shape, values, moved in shapes:
                location = where.get(moved)
                if location is None:
                    continue
                for category in categories:
                    yield ProbeCase(f"{unit} {category} {shape}", unit, category, location, unit, **values)


def _far_towns(rules: CompiledRules) -> list[str]:
    """A town (or the lowest region) in each of two different cities of the scope, so every unit of
    the scope lies apart from at least one of them."""
    directory = rules.directory
    chosen: list[str] = []
    cities: set[str] = set()
    for region in directory.scope_regions():
        if directory.tree.level(region) not in ("town", "village"):
            continue
        city = directory.tree.ancestor_at(region, "city")
        key = city.code if city is not None else region
        if key not in cities:
            cities.add(key)
            chosen.append(region)
        if len(chosen) == 2:
            break
    return chosen


def _collect(pipeline: Pipeline, batch: list[Routing], found: dict[str, list[str]]) -> None:
    if not batch:
        return
    pipeline.route(batch)
    directory = pipeline.rules.directory
    for routing in batch:
        if routing.error is not None:
            continue
        unit, _ = handling_unit(routing, directory)
        if unit is not None and unit == routing.case.target_unit:
            deciding = _deciding_rule(routing)
            found.setdefault(deciding, []).append(routing.case.case_id)


def _deciding_rule(routing: Routing) -> str:
    """The disposition rule (it chose the handler), else the last rule that fired."""
    return next((rule_id for rule_id in routing.trace if rule_id.startswith("disposition.")), routing.trace[-1])


# --- urgency ----------------------------------------------------------------------------------


def _values(table: Table) -> dict[str, list[Scalar]]:
    """For each fact the table tests: one representative value per class the tests can tell apart."""
    values: dict[str, list[Scalar]] = {}
    for name in sorted({test.fact for rule in table.rules for test in rule.condition.tests}):
        spec = table.facts[name]
        tests = [test for rule in table.rules for test in rule.condition.tests if test.fact == name]
        if spec.kind == "bool":
            values[name] = [False, True]
        elif spec.kind == "int":
            edges = {0}
            for test in tests:
                if test.low > INT_MIN:
                    edges.add(max(test.low, 0))
                if test.high < INT_MAX:
                    edges.add(max(test.high + 1, 0))
            values[name] = sorted(edges)
        else:
            mentioned = {str(value) for test in tests if test.allowed is not None for value in test.allowed}
            other: list[Scalar] = [value for value in sorted(set(spec.domain) - mentioned)[:1]]
            values[name] = [*sorted(mentioned & set(spec.domain)), *other]
    return values


def urgency_monotone(rules: CompiledRules) -> list[Problem]:
    table = rules.tables["urgency"]
    values = _values(table)
    names = list(values)
    points = 1
    for options in values.values():
        points *= len(options)
    if points > MAX_POINTS:
        return [Problem(table.file, table.line, f"urgency: {points} combinations, too many to prove monotone")]
    outcomes: dict[frozenset[str], Rule] = {}
    specific = [rule for rule in table.rules if not rule.is_default]
    default = table.default
    for combination in itertools.product(*values.values()):
        facts: Facts = dict(zip(names, combination, strict=True))
        met = frozenset(rule.id for rule in specific if rule.condition.matches(facts))
        if met not in outcomes:
            winner = next((rule for rule in table.rules if rule.condition.matches(facts)), default)
            assert winner is not None
            outcomes[met] = winner
    problems: list[Problem] = []
    reported: set[tuple[str, str]] = set()
    for (less, weaker), (more, stronger) in itertools.permutations(outcomes.items(), 2):
        if not less < more or (weaker.id, stronger.id) in reported:
            continue
        if _serious(stronger) < _serious(weaker):
            reported.add((weaker.id, stronger.id))
            extra = ", ".join(sorted(more - less))
            problems.append(
                Problem(
                    stronger.file,
                    stronger.line,
                    f"urgency is not monotone: a case meeting {sorted(more)} gets {_show(stronger)} from "
                    f"{stronger.id!r}, less than {_show(weaker)} from {weaker.id!r} for one meeting only "
                    f"{sorted(less)} (it also meets {extra})",
                )
            )
    return problems


def _serious(rule: Rule) -> tuple[int, int]:
    """Greater is more serious: the urgency, then the shorter report."""
    hours = rule.outputs.get("report_within_hours")
    return URGENCY_RANK[str(rule.outputs.get("urgency", "normal"))], -(hours if hours is not None else 1 << 30)


def _show(rule: Rule) -> str:
    return f"{rule.outputs.get('urgency')}/{rule.outputs.get('report_within_hours')}h"
