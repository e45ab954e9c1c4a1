"""The loaded rule set: decision tables, directory, deployment settings and categories."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from services.common.deployment import Deployment
from services.common.directory import Directory
from services.common.regions import LEVELS_BY_RANK
from services.router.conditions import Condition, FactSpec

HIT_POLICIES = ("first", "priority", "unique", "collect")


@dataclass(frozen=True)
class OutputSpec:
    kind: str  # "enum", "int", "role", "policy", "flags", "departments"
    domain: tuple[str, ...] = ()
    required: bool = False


@dataclass(frozen=True)
class TableSpec:
    name: str
    purpose: str
    sees: tuple[str, ...]  # vocabulary steps whose facts the table may match
    outputs: dict[str, OutputSpec]


# Who the handling unit is: the competent unit; the receiving unit; the receiving unit unless it is
# the unit complained about, then the unit above that one (首问负责 without judging oneself); nobody.
HANDLERS = ("competent", "receiver", "first_contact", "none")
LEVEL_NAMES = LEVELS_BY_RANK
# The pipeline, in order. Plain Python resolves the competent unit between placement and disposition.
TABLE_SPECS: tuple[TableSpec, ...] = (
    TableSpec(
        "competence",
        "category → competent department and the lowest level that can decide it",
        ("case",),
        {
            "department": OutputSpec("department", required=True),
            "level": OutputSpec("enum", LEVEL_NAMES, required=True),
            "co_departments": OutputSpec("departments"),
        },
    ),
    TableSpec(
        "placement",
        "where the level is counted: the matter's region, above the unit complained about, or covering both",
        ("case", "competence"),
        {"anchor": OutputSpec("enum", ("matter", "above_target", "covering"), required=True)},
    ),
    TableSpec(
        "disposition",
        "what happens to the case (DOMAIN.md §4.5b order)",
        ("case", "competence", "placement", "resolved"),
        {
            "disposition": OutputSpec(
                "enum",
                ("handle", "forward", "assign", "divert_legal", "reject_concluded", "merge", "redirect"),
                required=True,
            ),
            "handler": OutputSpec("enum", HANDLERS),
            "flags": OutputSpec("flags"),
        },
    ),
    TableSpec(
        "flags",
        "flags that describe the case",
        ("case", "competence", "placement", "resolved", "disposition"),
        {"flags": OutputSpec("flags")},
    ),
    TableSpec(
        "urgency",
        "urgency, leader ownership (领导包案) and urgent report",
        ("case", "competence", "placement", "resolved", "disposition"),
        {
            "urgency": OutputSpec("enum", ("normal", "urgent", "critical"), required=True),
            "lead_leader": OutputSpec("role"),
            "report_within_hours": OutputSpec("int"),
            "flags": OutputSpec("flags"),
        },
    ),
    TableSpec(
        "deadline",
        "which deadline policy (rules/deadlines.yaml) the tracker applies",
        ("case", "competence", "placement", "resolved", "disposition", "urgency"),
        {"deadline_policy": OutputSpec("policy", required=True)},
    ),
)
TABLE_NAMES = tuple(spec.name for spec in TABLE_SPECS)


@dataclass(frozen=True)
class Rule:
    id: str
    table: str
    file: str
    line: int
    condition: Condition
    outputs: dict[str, Any]
    is_default: bool
    priority: int
    description: str = ""


@dataclass(frozen=True)
class Table:
    name: str
    hit: str
    file: str
    line: int
    rules: tuple[Rule, ...]  # in evaluation order (priority order for `priority` tables)
    facts: dict[str, FactSpec]  # what the table may match

    @property
    def default(self) -> Rule | None:
        return next((rule for rule in self.rules if rule.is_default), None)

    @cached_property
    def by_id(self) -> dict[str, Rule]:
        return {rule.id: rule for rule in self.rules}


@dataclass(frozen=True)
class CompiledRules:
    root: Path
    version: str
    deployment: Deployment
    directory: Directory
    categories: dict[str, str]  # code -> name
    tables: dict[str, Table]
    deadline_policies: frozenset[str] | None  # None when rules/deadlines.yaml is absent
    files: dict[str, str] = field(default_factory=dict)  # shown path -> table/section, for messages

    def all_rules(self) -> list[Rule]:
        return [rule for name in TABLE_NAMES for rule in self.tables[name].rules]
