"""The routing pipeline: derived facts → decision tables on the engine → Decision."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from services.common.regions import LEVEL_RANK
from services.common.schemas import Decision, ReceivedCase
from services.router.engine import Engine
from services.router.facts import FLAGS, NONE, CaseContext, Facts, case_facts, split_unit
from services.router.model import TABLE_NAMES, CompiledRules, Rule, Table
from services.router.problems import RoutingError

# Evaluates one table for many fact sets: the rule ids that fired for each.
Evaluate = Callable[[str, Sequence[Facts]], list[list[str]]]


@dataclass
class Routing:
    """One case on its way through the pipeline."""

    case: ReceivedCase
    facts: Facts
    context: CaseContext
    outputs: dict[str, Any] = field(default_factory=dict)
    flags: list[str] = field(default_factory=list)
    trace: list[str] = field(default_factory=list)
    competent: str | None = None
    co_units: list[str] = field(default_factory=list)
    facts_by_table: dict[str, Facts] = field(default_factory=dict)


def evaluate_in_python(rules: CompiledRules) -> Evaluate:
    """The same semantics as the engine, in plain Python (used by `explain` and to cross-check)."""

    def evaluate(table_name: str, fact_sets: Sequence[Facts]) -> list[list[str]]:
        return [python_hits(rules.tables[table_name], facts) for facts in fact_sets]

    return evaluate


def python_hits(table: Table, facts: Facts) -> list[str]:
    if table.hit in ("first", "priority"):
        return [next(rule.id for rule in table.rules if rule.condition.matches(facts))]
    return [rule.id for rule in table.rules if rule.condition.matches(facts)]


def deciding_rules(table: Table, facts: Facts) -> list[Rule]:
    """The rules that decide a table for these facts, evaluated in Python."""
    return _effective(table, python_hits(table, facts))


def run_pipeline(rules: CompiledRules, cases: Sequence[ReceivedCase], evaluate: Evaluate) -> list[Routing]:
    routings = []
    for case in cases:
        facts, context = case_facts(case, rules)
        routings.append(Routing(case, facts, context))
    for table_name in TABLE_NAMES:
        table = rules.tables[table_name]
        if table_name == "disposition":
            for routing in routings:
                _resolve(rules, routing)
        for routing in routings:
            routing.facts_by_table[table_name] = dict(routing.facts)
        hits = evaluate(table_name, [routing.facts for routing in routings])
        for routing, fired in zip(routings, hits, strict=True):
            _apply(table, _effective(table, fired), routing)
    return routings


def decision_of(rules: CompiledRules, routing: Routing) -> Decision:
    outputs = routing.outputs
    handler = outputs.get("handler", "competent")
    unit: str | None = None
    co_units: list[str] = []
    if handler == "competent":
        unit, co_units = routing.competent, routing.co_units
    elif handler == "receiver":
        unit = routing.case.received_by
    level = rules.directory.tree.level(split_unit(unit)[0]) if unit is not None else None
    flags = [flag for flag in FLAGS if flag in routing.flags]
    return Decision.model_validate(
        {
            "disposition": outputs["disposition"],
            "handling_unit": unit,
            "handling_level": level,
            "co_units": co_units,
            "lead_leader": outputs.get("lead_leader"),
            "urgency": outputs["urgency"],
            "report_within_hours": outputs.get("report_within_hours"),
            "flags": flags,
            "deadline_policy": outputs["deadline_policy"],
            "trace": routing.trace,
            "ruleset_version": rules.version,
        }
    )


def _effective(table: Table, fired: list[str]) -> list[Rule]:
    """The rules that decide: the default of a collect/unique table only counts when nothing else fired."""
    by_id = {rule.id: rule for rule in table.rules}
    chosen = [by_id[rule_id] for rule_id in fired]
    if table.hit in ("unique", "collect"):
        specific = [rule for rule in chosen if not rule.is_default]
        chosen = specific or [rule for rule in chosen if rule.is_default]
        if table.hit == "unique" and len({repr(sorted(rule.outputs.items())) for rule in specific}) > 1:
            ids = ", ".join(rule.id for rule in specific)
            raise RoutingError(f"table {table.name} (hit: unique) matched rules with different outcomes: {ids}")
        chosen = chosen[:1] if table.hit == "unique" else chosen
    return chosen


def _apply(table: Table, chosen: list[Rule], routing: Routing) -> None:
    for rule in chosen:
        routing.trace.append(rule.id)
        for key, value in rule.outputs.items():
            if key == "flags":
                routing.flags += [flag for flag in value if flag not in routing.flags]
            else:
                routing.outputs[key] = value
    facts = routing.facts
    if table.name == "competence":
        facts["department"] = routing.outputs["department"]
        facts["level"] = routing.outputs["level"]
    elif table.name == "placement":
        facts["anchor"] = routing.outputs["anchor"]
    elif table.name == "disposition":
        facts["disposition"] = routing.outputs["disposition"]
    elif table.name == "urgency":
        facts["urgency"] = routing.outputs["urgency"]
    for flag in FLAGS:
        facts[f"flag_{flag}"] = flag in routing.flags


def _resolve(rules: CompiledRules, routing: Routing) -> None:
    """The competent unit (谁主管, 属地管理、分级负责) and its helpers, as facts for the later tables."""
    directory = rules.directory
    context, facts, outputs = routing.context, routing.facts, routing.outputs
    department, level, anchor = outputs["department"], outputs["level"], outputs["anchor"]
    competent: str | None = None
    if facts["in_scope"]:
        start = context.matter_region
        if anchor == "above_target" and context.target_unit is not None:
            supervisor = directory.supervisor(context.target_unit)
            start = split_unit(supervisor)[0] if supervisor else context.target_region or start
        elif anchor == "covering" and context.target_region is not None:
            start = directory.tree.lowest_common(context.matter_region, context.target_region).code
        competent = directory.find_up(directory.at_or_above(start, level), department)
        if anchor == "above_target" and context.target_unit is not None and competent == context.target_unit:
            # The category's department at that level is the unit complained about: its supervisor decides.
            competent = directory.supervisor(context.target_unit)
        if competent is None:
            # 首问负责: a gap in the directory leaves the case with the unit that received it.
            routing.trace.append(f"gap:{department}@{start}")
            competent = context.received_by
    routing.competent = competent
    if competent is not None:
        region = split_unit(competent)[0]
        present = directory.departments_at(region)
        routing.co_units = [f"{region}:{d}" for d in outputs.get("co_departments", []) if d in present]
        competent_level = directory.tree.level(region)
        facts["competent_level"] = competent_level
        facts["competent_department"] = split_unit(competent)[1]
        facts["competent_is_receiver"] = competent == context.received_by
        facts["levels_above_competent"] = LEVEL_RANK[str(facts["received_level"])] - LEVEL_RANK[competent_level]
    else:
        facts["competent_level"] = NONE
        facts["competent_department"] = NONE
        facts["competent_is_receiver"] = False
        facts["levels_above_competent"] = 0
    facts["has_co_units"] = bool(routing.co_units)


class Router:
    """One per process: owns the durable_rules Host. Rebuilds it after an engine error."""

    def __init__(self, rules: CompiledRules) -> None:
        self._current = (rules, Engine(list(rules.tables.values())))
        self._swap_lock = threading.Lock()

    @property
    def rules(self) -> CompiledRules:
        return self._current[0]

    def decide(self, case: ReceivedCase) -> Decision:
        return self.decide_many([case])[0]

    def decide_many(self, cases: list[ReceivedCase]) -> list[Decision]:
        rules, engine = self._current  # one snapshot, so a swap never mixes two rule versions
        routings = run_pipeline(rules, cases, engine.evaluate)
        return [decision_of(rules, routing) for routing in routings]

    def swap(self, rules: CompiledRules) -> None:
        """Atomically replace the rules; the new Host is built before the old one goes."""
        engine = Engine(list(rules.tables.values()))
        with self._swap_lock:
            old = self._current[1]
            self._current = (rules, engine)
        old.close()

    def close(self) -> None:
        self._current[1].close()
