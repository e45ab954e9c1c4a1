"""The steps of the routing pipeline: derived facts → decision tables → competent unit → Decision.

Tables run in TABLE_NAMES order; the competent unit is resolved in Python before `disposition`.
`run_tables` evaluates one table at a time for many cases, so the engine gets one call per table.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from services.common.directory import Directory
from services.common.regions import LEVEL_RANK
from services.common.schemas import Decision
from services.router.facts import FLAGS, Facts, case_facts
from services.router.lookups import NONE, CaseContext, Lookups
from services.router.model import CompiledRules, Rule, Table
from services.router.problems import RoutingError
from services.router.received import CaseLike

# Evaluates one table for many fact sets: the rule ids that fired for each.
Evaluate = Callable[[str, Sequence[Facts]], list[list[str]]]
RESOLVE_BEFORE = "disposition"
MAX_RESOLUTIONS = 200_000
FLAG_FACTS = tuple(f"flag_{flag}" for flag in FLAGS)
# The facts each table's outputs become, for the tables after it (every table also sets flag_*).
OUTPUT_FACTS: dict[str, tuple[str, ...]] = {
    "competence": ("department", "level"),
    "placement": ("anchor",),
    "disposition": ("disposition",),
    "urgency": ("urgency",),
}


@dataclass(slots=True)
class Routing:
    """One case on its way through the pipeline."""

    case: CaseLike
    facts: Facts
    context: CaseContext
    outputs: dict[str, Any] = field(default_factory=dict)
    flags: list[str] = field(default_factory=list)
    trace: list[str] = field(default_factory=list)
    competent: str | None = None
    co_units: tuple[str, ...] = ()
    facts_by_table: dict[str, Facts] = field(default_factory=dict)
    error: RoutingError | None = None

    def copy(self) -> Routing:
        return Routing(
            self.case,
            dict(self.facts),
            self.context,
            dict(self.outputs),
            list(self.flags),
            list(self.trace),
            self.competent,
            self.co_units,
        )


def start(rules: CompiledRules, case: CaseLike, lookups: Lookups) -> Routing:
    facts, context = case_facts(case, rules, lookups)
    return Routing(case, facts, context, {}, [], [], None, (), {}, None)  # no default factories: hot path


def written_facts(table_name: str) -> tuple[str, ...]:
    """The facts that running this table sets."""
    return OUTPUT_FACTS.get(table_name, ()) + FLAG_FACTS


def run_tables(
    rules: CompiledRules,
    routings: Sequence[Routing],
    table_names: Sequence[str],
    evaluate: Evaluate,
    *,
    snapshot: bool = False,
) -> None:
    """Run the tables in order on every routing without an error; a routing that fails gets `error`.

    An EngineError (the engine itself failed) propagates: it concerns the whole call, not one case.
    """
    for table_name in table_names:
        table = rules.tables[table_name]
        live = [routing for routing in routings if routing.error is None]
        if snapshot:
            for routing in live:
                routing.facts_by_table[table_name] = dict(routing.facts)
        hits = evaluate(table_name, [routing.facts for routing in live])
        for routing, fired in zip(live, hits, strict=True):
            try:
                apply(table, effective(table, fired), routing)
            except RoutingError as error:
                routing.error = error


def effective(table: Table, fired: list[str]) -> list[Rule]:
    """The rules that decide: the default of a collect/unique table only counts when nothing else fired."""
    by_id = table.by_id
    chosen = [by_id[rule_id] for rule_id in fired]
    if table.hit in ("unique", "collect"):
        specific = [rule for rule in chosen if not rule.is_default]
        chosen = specific or [rule for rule in chosen if rule.is_default]
        if table.hit == "unique" and len({repr(sorted(rule.outputs.items())) for rule in specific}) > 1:
            ids = ", ".join(rule.id for rule in specific)
            raise RoutingError(f"table {table.name} (hit: unique) matched rules with different outcomes: {ids}")
        chosen = chosen[:1] if table.hit == "unique" else chosen
    return chosen


def apply(table: Table, chosen: list[Rule], routing: Routing) -> None:
    for rule in chosen:
        routing.trace.append(rule.id)
        for key, value in rule.outputs.items():
            if key == "flags":
                routing.flags += [flag for flag in value if flag not in routing.flags]
            else:
                routing.outputs[key] = value
    facts = routing.facts
    for name in OUTPUT_FACTS.get(table.name, ()):
        facts[name] = routing.outputs[name]
    for flag, name in zip(FLAGS, FLAG_FACTS, strict=True):
        facts[name] = flag in routing.flags


class Resolution(NamedTuple):
    competent: str | None
    co_units: tuple[str, ...]
    facts: Facts
    gap: str | None  # the trace entry of a gap in the directory


def resolve(lookups: Lookups, routing: Routing) -> None:
    """The competent unit (谁主管, 属地管理、分级负责) and its helpers, as facts for the later tables."""
    context, facts, outputs = routing.context, routing.facts, routing.outputs
    co_departments = outputs.get("co_departments", ())
    # The context holds the places, which also determine in_scope and received_level.
    key = (outputs["department"], outputs.get("level"), outputs.get("anchor"), tuple(co_departments), context)
    known = lookups.resolutions.get(key)
    if known is None:
        if len(lookups.resolutions) >= MAX_RESOLUTIONS:
            lookups.resolutions.clear()
        known = lookups.resolutions[key] = _resolution(lookups, routing)
    if known.gap is not None:
        routing.trace.append(known.gap)
    routing.competent = known.competent
    routing.co_units = known.co_units
    facts.update(known.facts)


def _resolution(lookups: Lookups, routing: Routing) -> Resolution:
    context, facts, outputs = routing.context, routing.facts, routing.outputs
    department = outputs["department"]
    competent: str | None = None
    gap: str | None = None
    above_scope = False
    if facts["in_scope"]:
        level, anchor = outputs["level"], outputs["anchor"]
        found = lookups.found(department, level, anchor, context.target_unit, context.matter_region)
        competent, above_scope = found.unit, found.above_scope
        if competent is None and not above_scope:
            # 首问负责: a gap in the directory leaves the case with the unit that received it.
            gap = f"gap:{department}@{found.start}"
            competent = context.received_by
    if competent is None:
        no_unit: Facts = {
            "competent_level": NONE,
            "competent_department": NONE,
            "competent_is_receiver": False,
            "levels_above_competent": 0,
            "has_co_units": False,
            "above_scope": above_scope,
        }
        return Resolution(None, (), no_unit, gap)
    unit = lookups.unit_facts(competent, tuple(outputs.get("co_departments", ())))
    found_facts: Facts = {
        "competent_level": unit.level,
        "competent_department": unit.department,
        "competent_is_receiver": competent == context.received_by,
        "levels_above_competent": LEVEL_RANK[str(facts["received_level"])] - unit.rank,
        "has_co_units": bool(unit.co_units),
        "above_scope": False,
    }
    return Resolution(competent, unit.co_units, found_facts, gap)


def handling_unit(routing: Routing, directory: Directory) -> tuple[str | None, tuple[str, ...]]:
    handler = routing.outputs.get("handler", "competent")
    if handler == "competent":
        return routing.competent, routing.co_units
    received_by = routing.case.received_by
    if handler == "receiver":
        return received_by, ()
    if handler == "first_contact":
        if received_by == routing.case.target_unit:
            return directory.above_unit(received_by), ()
        return received_by, ()
    return None, ()


OWN_COMPLAINT = "guard:own_complaint"
OWN_COMPLAINT_REDIRECT = "guard:own_complaint:redirect"
HANDLING = ("handle", "forward", "assign")


def guard_own_complaint(directory: Directory, routing: Routing) -> None:
    """The unit complained about never handles its own complaint, whatever rule decided it (§4.5b).

    `xf rules check` proves the shipped rules never need this; it stands for rule sets loaded
    without the check and for cases the check does not enumerate. It works from the decision so far
    only, so every case with the same trace (and so the same guard entry) gets the same outputs.
    """
    target = routing.case.target_unit
    if target is None or routing.error is not None or handling_unit(routing, directory)[0] != target:
        return
    outputs = routing.outputs
    above = directory.above_unit(target)
    if above is not None:
        routing.competent, routing.co_units = above, ()
        outputs["handler"] = "competent"
        if outputs["disposition"] == "handle":
            outputs["disposition"] = "forward"
        routing.trace.append(OWN_COMPLAINT)
        return
    outputs["handler"] = "none"
    if outputs["disposition"] in HANDLING:
        outputs["disposition"] = "redirect"
    routing.trace.append(OWN_COMPLAINT_REDIRECT)


def decision_of(rules: CompiledRules, routing: Routing) -> Decision:
    outputs = routing.outputs
    unit, co_units = handling_unit(routing, rules.directory)
    level = rules.directory.tree.level(unit.partition(":")[0]) if unit is not None else None
    flags = [flag for flag in FLAGS if flag in routing.flags]
    return Decision.model_validate(
        {
            "disposition": outputs["disposition"],
            "handling_unit": unit,
            "handling_level": level,
            "co_units": list(co_units),
            "lead_leader": outputs.get("lead_leader"),
            "urgency": outputs["urgency"],
            "report_within_hours": outputs.get("report_within_hours"),
            "flags": flags,
            "deadline_policy": outputs["deadline_policy"],
            "trace": routing.trace,
            "ruleset_version": rules.version,
        }
    )
