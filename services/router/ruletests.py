"""Rule test cases that live beside the rules (rules/tests/*.yaml): case → expected decision fields."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from services.common.errors import describe_validation_error
from services.common.rule_problems import Problem, display_path
from services.common.schemas import ANY_TIME, Decision, ReceivedCase
from services.common.yamlfile import YamlFile, YList, YMap
from services.router.decide import Router
from services.router.model import CompiledRules, Rule
from services.router.problems import CaseError

CASE_DEFAULTS: dict[str, Any] = {
    "received_at": "2026-05-06T10:00:00+08:00",
    "channel": "letter",
    "petitioner_key": "pk-rule-test-0001",
    "people_count": 1,
}
DECISION_FIELDS = tuple(name for name in Decision.model_fields if name not in ("trace", "ruleset_version"))
EXTRA_EXPECTATIONS = ("flags_include", "flags_exclude", "trace_includes")


@dataclass
class RuleTest:
    name: str
    file: str
    line: int
    case: ReceivedCase
    expect: dict[str, Any]

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}"


@dataclass
class Outcome:
    test: RuleTest
    decision: Decision | None
    failures: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.failures


def validation_message(error: ValidationError) -> str:
    return describe_validation_error(error)


def load_tests(rules_dir: Path) -> tuple[list[RuleTest], list[Problem]]:
    tests: list[RuleTest] = []
    problems: list[Problem] = []
    for path in sorted((rules_dir / "tests").glob("*.yaml")):
        document = YamlFile(path, display_path(path, rules_dir))
        data = document.data
        if not isinstance(data, YMap) or not isinstance(data.get("cases"), YList):
            document.problem(1, "a rule test file needs a `cases:` list")
            problems += document.problems
            continue
        defaults = {**CASE_DEFAULTS, **dict(data.get("defaults") or {})}
        cases: YList = data["cases"]
        for index, raw in enumerate(cases):
            line = cases.line_at(index)
            test = _one_test(document, path.stem, index, raw, line, defaults)
            if test is not None:
                tests.append(test)
        problems += document.problems
    return tests, problems


def _one_test(
    document: YamlFile, stem: str, index: int, raw: Any, line: int, defaults: dict[str, Any]
) -> RuleTest | None:
    if not isinstance(raw, YMap) or not isinstance(raw.get("case"), dict) or not isinstance(raw.get("expect"), dict):
        document.problem(line, "each test needs `name`, `case:` and `expect:`")
        return None
    for key in raw:
        if key not in ("name", "case", "expect"):
            document.problem(raw.line_of(key), f"unknown key {key!r} in a rule test")
    name = str(raw.get("name", f"{stem} #{index + 1}"))
    body = {**defaults, **raw["case"]}
    body.setdefault("case_id", f"{stem}-{index + 1}")
    if isinstance(body.get("location"), str):
        body["location"] = {"region": body["location"]}
    try:
        case = ReceivedCase.model_validate(body, context=ANY_TIME)
    except ValidationError as error:
        document.problem(raw.line_of("case"), f"{name}: malformed case: {validation_message(error)}")
        return None
    expect: YMap = raw["expect"]
    for key in expect:
        if key not in DECISION_FIELDS and key not in EXTRA_EXPECTATIONS:
            known = ", ".join((*DECISION_FIELDS, *EXTRA_EXPECTATIONS))
            document.problem(expect.line_of(key), f"{name}: cannot expect {key!r} (known: {known})")
    return RuleTest(name, document.shown_as, line, case, dict(expect))


def run_tests(router: Router, tests: list[RuleTest]) -> list[Outcome]:
    outcomes = []
    for test in tests:
        try:
            decision = router.decide(test.case)
        except CaseError as error:
            outcomes.append(Outcome(test, None, [f"case rejected: {error}"]))
            continue
        outcomes.append(Outcome(test, decision, compare(test.expect, decision)))
    return outcomes


def compare(expect: dict[str, Any], decision: Decision) -> list[str]:
    failures = []
    actual = decision.model_dump(mode="json")
    for key, wanted in expect.items():
        if key == "flags":
            if set(wanted or []) != set(actual["flags"]):
                failures.append(f"flags: expected {sorted(wanted or [])}, got {actual['flags']}")
        elif key == "flags_include":
            missing = [flag for flag in wanted if flag not in actual["flags"]]
            if missing:
                failures.append(f"flags: expected to include {missing}, got {actual['flags']}")
        elif key == "flags_exclude":
            present = [flag for flag in wanted if flag in actual["flags"]]
            if present:
                failures.append(f"flags: expected not to include {present}, got {actual['flags']}")
        elif key == "trace_includes":
            missing = [rule_id for rule_id in wanted if rule_id not in actual["trace"]]
            if missing:
                failures.append(f"trace: expected to include {missing}")
        elif key == "co_units":
            if set(wanted or []) != set(actual["co_units"]):
                failures.append(f"co_units: expected {sorted(wanted or [])}, got {actual['co_units']}")
        elif actual.get(key) != wanted:
            failures.append(f"{key}: expected {wanted!r}, got {actual.get(key)!r}")
    return failures


def uncovered(rules: CompiledRules, outcomes: list[Outcome]) -> list[Rule]:
    fired = {rule_id for outcome in outcomes if outcome.decision for rule_id in outcome.decision.trace}
    return [rule for rule in rules.all_rules() if rule.id not in fired]


def coverage_report(rules: CompiledRules, missing: list[Rule]) -> list[str]:
    """Per table file, as `opa test --coverage` reports per file: rules exercised, and each one not."""
    lines = []
    absent = {rule.id for rule in missing}
    for table in rules.tables.values():
        hit = sum(1 for rule in table.rules if rule.id not in absent)
        lines.append(f"  {table.file}: {hit}/{len(table.rules)}")
        lines += [f"    not exercised: {rule.file}:{rule.line} {rule.id}" for rule in table.rules if rule.id in absent]
    return lines
