"""`xf rules explain`: the decision and, table by table, which rule matched and why the earlier ones did not."""

from __future__ import annotations

from services.common.schemas import Decision, ReceivedCase
from services.router.conditions import render
from services.router.decide import deciding_rules, decision_of, evaluate_in_python, run_pipeline
from services.router.facts import FLAGS
from services.router.model import TABLE_NAMES, CompiledRules, Table
from services.router.steps import OWN_COMPLAINT, OWN_COMPLAINT_REDIRECT


def explain(rules: CompiledRules, case: ReceivedCase, engine_decision: Decision | None = None) -> str:
    routing = run_pipeline(rules, [case], evaluate_in_python(rules))[0]
    decision = decision_of(rules, routing)
    lines = [f"case {case.case_id}: {_summary(decision)}", f"ruleset {rules.version}", ""]
    case_facts = routing.facts_by_table["competence"]
    lines.append("facts: " + ", ".join(f"{name}={render(value)}" for name, value in case_facts.items()))
    for table_name in TABLE_NAMES:
        table = rules.tables[table_name]
        facts = routing.facts_by_table[table_name]
        if table_name == "disposition":
            lines += ["", "competent unit:"]
            lines.append(
                f"  {routing.competent or 'none'} (department {facts['department']}, level {facts['level']}, "
                f"anchor {facts['anchor']}; co-units {', '.join(routing.co_units) or 'none'})"
            )
            resolved = (
                "competent_level",
                "competent_is_receiver",
                "levels_above_competent",
                "has_co_units",
                "above_scope",
            )
            lines.append("  facts: " + ", ".join(f"{name}={render(facts[name])}" for name in resolved))
        lines += ["", f"[{table_name}] hit policy {table.hit} ({table.file})"]
        lines += _explain_table(table, facts)
    guarded = [entry for entry in routing.trace if entry in (OWN_COMPLAINT, OWN_COMPLAINT_REDIRECT)]
    if guarded:
        lines += [
            "",
            f"guard: the rules made the unit complained about ({case.target_unit}) its own handler; "
            f"the router overrode them ({guarded[0]}): see `xf rules check`",
        ]
    if engine_decision is not None and engine_decision.model_dump() != decision.model_dump():
        lines += ["", "WARNING: the engine decided differently:", engine_decision.model_dump_json()]
    lines += ["", "decision:", decision.model_dump_json(indent=2)]
    return "\n".join(lines)


def _summary(decision: Decision) -> str:
    unit = f" → {decision.handling_unit} ({decision.handling_level})" if decision.handling_unit else ""
    flags = f", flags {','.join(decision.flags)}" if decision.flags else ""
    return f"{decision.disposition}{unit}, {decision.urgency}{flags}, policy {decision.deadline_policy}"


def _explain_table(table: Table, facts: dict[str, str | int | bool]) -> list[str]:
    chosen = {rule.id for rule in deciding_rules(table, facts)}
    lines = []
    decided = False
    for rule in table.rules:
        where = f"{rule.file}:{rule.line}"
        if decided and table.hit in ("first", "priority"):
            lines.append(f"  ·  {rule.id}  not evaluated (an earlier rule matched)  {where}")
            continue
        failing = rule.condition.failing(facts)
        if failing:
            why = "; ".join(f"{test.fact} is {render(facts[test.fact])}, rule wants {test.written}" for test in failing)
            lines.append(f"  ✗  {rule.id}  {why}  {where}")
        elif rule.id in chosen:
            decided = True
            then = ", ".join(f"{key}={render(value)}" for key, value in rule.outputs.items())
            matched = "otherwise (default rule)" if rule.is_default else rule.condition.describe()
            lines.append(f"  ✓  {rule.id}  matched: {matched}  →  {then}  {where}")
        else:
            lines.append(f"  -  {rule.id}  default, not used: another rule matched  {where}")
    if table.name == "flags":
        set_flags = [flag for flag in FLAGS if facts.get(f"flag_{flag}")]
        lines.append(f"  flags before this table: {set_flags or 'none'}")
    return lines
