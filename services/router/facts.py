"""The flat facts that decision tables match, and how they are derived from a case.

The engine's JSON conditions reject some nested forms, so every fact is a top-level scalar.
Plain Python works out everything that needs the region tree, the directory or the calendar.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from services.common.regions import LEVEL_RANK, LEVELS_BY_RANK
from services.common.schemas import CHANNELS, Flag
from services.router.conditions import FactSpec, Scalar
from services.router.lookups import NONE, CaseContext, Lookups
from services.router.problems import CaseError
from services.router.received import CaseLike

if TYPE_CHECKING:
    from services.router.model import CompiledRules

FLAGS: tuple[Flag, ...] = Flag.__args__  # type: ignore[attr-defined]
LITIGATION = ("none", "pending", "judged", "enforcement", "arbitration", "reconsideration")
LEVELS = frozenset(LEVELS_BY_RANK)

Facts = dict[str, Scalar]


def vocabulary(categories: frozenset[str], departments: frozenset[str]) -> dict[str, list[FactSpec]]:
    """The facts each pipeline step may match, keyed by the step that makes them available."""

    def enum(name: str, domain: frozenset[str] | tuple[str, ...], meaning: str, noun: str = "value") -> FactSpec:
        return FactSpec(name, "enum", meaning, frozenset(domain), noun)

    def boolean(name: str, meaning: str) -> FactSpec:
        return FactSpec(name, "bool", meaning)

    def number(name: str, meaning: str) -> FactSpec:
        return FactSpec(name, "int", meaning)

    levels_or_none = LEVELS | {NONE}
    departments_or_none = departments | {NONE}
    return {
        "case": [
            enum("channel", CHANNELS, "how the case came in"),
            enum("category", categories, "the category code", "category"),
            enum("litigation", LITIGATION, "status of any legal procedure"),
            number("people_count", "people on the case"),
            number("prior_cases", "earlier cases on the same matter by the same petitioner"),
            boolean("concluded", "the same matter already finished re-review"),
            boolean("has_open_case", "an open case on the same matter exists"),
            boolean("has_assignment", "the case carries an assignment (from_unit, due_days)"),
            boolean("has_target", "a unit is complained about"),
            enum("target_department", departments_or_none, "department of the unit complained about", "department"),
            enum("target_level", levels_or_none, "level of the unit complained about"),
            enum("matter_level", LEVELS, "level of location.region"),
            enum("received_level", LEVELS, "level of the receiving unit"),
            enum("received_department", departments, "department of the receiving unit", "department"),
            boolean("in_scope", "the matter lies in the deployment's scope"),
            boolean(
                "cross_region",
                "matter and unit complained about lie in different counties and neither region contains the other",
            ),
            boolean("separation", "the petitioner's residence county and the matter lie in different counties"),
            boolean("new_facts", "new facts or reasons are stated about a concluded matter"),
            boolean("open_case_overdue", "the open case on the same matter is past its handling deadline (积案)"),
            boolean("sensitive_period", "received in a sensitive period (deployment time zone)"),
        ],
        "competence": [
            enum("department", departments, "the competent department (谁主管)", "department"),
            enum("level", LEVELS, "the lowest level that can decide the category"),
        ],
        "placement": [enum("anchor", ("matter", "above_target", "covering"), "where the level is counted")],
        "resolved": [
            enum("competent_level", levels_or_none, "level of the competent unit"),
            enum("competent_department", departments_or_none, "department of the competent unit", "department"),
            boolean("competent_is_receiver", "the receiving unit is the competent unit"),
            number("levels_above_competent", "received level minus competent level (ranks)"),
            boolean("has_co_units", "other departments help (协办)"),
            boolean("above_scope", "the complaint about a unit belongs above the deployment's scope (redirect)"),
        ],
        "disposition": [
            enum(
                "disposition",
                ("handle", "forward", "assign", "divert_legal", "reject_concluded", "merge", "redirect"),
                "the disposition",
            ),
            *[boolean(f"flag_{flag}", f"flag {flag} is set") for flag in FLAGS],
        ],
        "urgency": [enum("urgency", ("normal", "urgent", "critical"), "the urgency")],
    }


def split_unit(unit: str) -> tuple[str, str]:
    region, _, department = unit.partition(":")
    return region, department


def case_facts(case: CaseLike, rules: CompiledRules, lookups: Lookups | None = None) -> tuple[Facts, CaseContext]:
    lookups = lookups or Lookups(rules)
    matter = _known_place(case.location.region, rules)
    try:
        place = lookups.place(matter, case.received_by, case.target_unit, case.residence.region)
    except CaseError:
        lookups.region(matter, "location.region")  # the order of report: region, category, units
        _check_category(case, rules)
        raise
    _check_category(case, rules)
    history = case.history
    facts: Facts = {
        "channel": case.channel,
        "category": case.category,
        "litigation": case.litigation,
        "people_count": case.people_count,
        "prior_cases": history.prior_cases,
        "concluded": history.concluded,
        "has_open_case": history.open_case_id is not None,
        "has_assignment": case.assignment is not None,
        "has_target": case.target_unit is not None,
        "target_department": place.target_department,
        "target_level": place.target_level,
        "matter_level": place.matter_level,
        "received_level": place.received_level,
        "received_department": place.received_department,
        "in_scope": place.in_scope,
        "cross_region": place.cross_region,
        "separation": place.separation,
        "new_facts": case.new_facts,
        "open_case_overdue": history.open_case_overdue,
        "sensitive_period": lookups.sensitive(case.received_at),
    }
    return facts, place.context


def _known_place(region: str, rules: CompiledRules) -> str:
    """The matter's region; a village the deployment did not add (intake accepts any 12-digit code
    under a town of the table) is located at its town, where a village case goes anyway."""
    tree = rules.directory.tree
    if region in tree or len(region) != 12 or region.endswith("000"):
        return region
    town = region[:9]
    return town if town in tree and tree.level(town) == "town" else region


def _check_category(case: CaseLike, rules: CompiledRules) -> None:
    if case.category not in rules.categories:
        raise CaseError("category", f"unknown category {case.category!r}")


def levels_between(upper: str, lower: str) -> int:
    return LEVEL_RANK[upper] - LEVEL_RANK[lower]
