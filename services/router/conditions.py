"""Conditions of decision-table rules: parsing, evaluation, explanation, set reasoning, durable_rules JSON.

A rule's `when` is a mapping of fact name to a test, all of which must hold:
  fact: value            equal to value
  fact: [a, b]           one of the values
  fact: {not: a}         not equal (a list: none of the values)
  fact: {">=": 5}        comparisons for whole-number facts (>=, >, <=, <); several combine
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

Scalar = str | int | bool
INT_MIN = -(10**9)
INT_MAX = 10**9
COMPARATORS = {">=": "$gte", ">": "$gt", "<=": "$lte", "<": "$lt"}


@dataclass(frozen=True)
class FactSpec:
    name: str
    kind: str  # "bool", "int" or "enum"
    meaning: str
    domain: frozenset[str] = frozenset()
    noun: str = "value"

    def values(self) -> frozenset[Scalar]:
        if self.kind == "bool":
            return frozenset({True, False})
        return frozenset(self.domain)


@dataclass(frozen=True)
class Test:
    fact: str
    written: str  # as the author wrote it, for explanations
    allowed: frozenset[Scalar] | None  # bool/enum facts: the values that pass
    excluded: bool  # written as `not`
    low: int = INT_MIN  # int facts: inclusive bounds
    high: int = INT_MAX

    def passes(self, value: Scalar) -> bool:
        if self.allowed is None:
            return not isinstance(value, bool) and isinstance(value, int) and self.low <= value <= self.high
        return value in self.allowed and type(value) is type(next(iter(self.allowed), value))

    def within(self, other: Test) -> bool:
        """Every value that passes self also passes other."""
        if self.allowed is None or other.allowed is None:
            return other.low <= self.low and self.high <= other.high
        return self.allowed <= other.allowed

    def meets(self, other: Test) -> bool:
        """Some value passes both."""
        if self.allowed is None or other.allowed is None:
            return max(self.low, other.low) <= min(self.high, other.high)
        return bool(self.allowed & other.allowed)

    def is_empty(self) -> bool:
        return self.low > self.high if self.allowed is None else not self.allowed

    def to_durable(self, domain: frozenset[Scalar]) -> list[dict[str, Any]]:
        """Flat durable_rules terms (nested forms such as an object value are rejected by the engine)."""
        if self.allowed is None:
            terms: list[dict[str, Any]] = []
            if self.low > INT_MIN:
                terms.append({"$gte": {self.fact: self.low}})
            if self.high < INT_MAX:
                terms.append({"$lte": {self.fact: self.high}})
            return terms
        values = sorted(self.allowed, key=str)
        if len(values) == 1:
            return [{self.fact: values[0]}]
        others = sorted(domain - self.allowed, key=str)
        if self.excluded or len(others) < len(values):
            return [{"$neq": {self.fact: value}} for value in others]
        return [{"$or": [{self.fact: value} for value in values]}]


@dataclass(frozen=True)
class Condition:
    tests: tuple[Test, ...]

    def failing(self, facts: Mapping[str, Scalar]) -> list[Test]:
        return [test for test in self.tests if not test.passes(facts[test.fact])]

    def matches(self, facts: Mapping[str, Scalar]) -> bool:
        return all(test.passes(facts[test.fact]) for test in self.tests)

    def by_fact(self) -> dict[str, Test]:
        return {test.fact: test for test in self.tests}

    def within(self, other: Condition) -> bool:
        """Everything that matches self also matches other (so other, if earlier, shadows self)."""
        mine = self.by_fact()
        for fact, test in other.by_fact().items():
            narrower = mine.get(fact)
            if narrower is None or not narrower.within(test):
                return False
        return True

    def meets(self, other: Condition) -> bool:
        """Some facts can match both."""
        theirs = other.by_fact()
        return all(test.meets(theirs[test.fact]) for test in self.tests if test.fact in theirs)

    def describe(self) -> str:
        return ", ".join(test.written for test in self.tests) or "always"


def render(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + ", ".join(render(item) for item in value) + "]"
    return str(value)


def parse_test(spec: FactSpec, raw: Any) -> tuple[Test | None, str | None]:
    """(test, None) or (None, what is wrong)."""
    name = spec.name
    if spec.kind == "int":
        return _parse_int_test(name, raw)
    domain = spec.values()
    excluded = False
    values = raw
    if isinstance(raw, Mapping):
        if set(raw) != {"not"}:
            return None, f"{name}: only `not` applies to a {spec.kind} fact, got {sorted(raw)}"
        excluded = True
        values = raw["not"]
    listed = list(values) if isinstance(values, list) else [values]
    if not listed:
        return None, f"{name}: empty list of values"
    for value in listed:
        wrong_type = spec.kind == "bool" and not isinstance(value, bool)
        wrong_type = wrong_type or (spec.kind == "enum" and not isinstance(value, str))
        if wrong_type:
            return None, f"{name}: {render(value)!r} is not a {spec.kind} value"
        if value not in domain:
            known = sorted(map(render, domain))
            shown = ", ".join(known[:12]) + (", …" if len(known) > 12 else "")
            return None, f"{name}: unknown {spec.noun} {render(value)!r} (known: {shown})"
    chosen = frozenset(listed)
    allowed = domain - chosen if excluded else chosen
    written = f"{name} not in {render(listed)}" if excluded else f"{name} = {render(values)}"
    if excluded and len(listed) == 1:
        written = f"{name} ≠ {render(listed[0])}"
    elif not excluded and isinstance(values, list):
        written = f"{name} in {render(listed)}"
    return Test(fact=name, written=written, allowed=allowed, excluded=excluded), None


def _parse_int_test(name: str, raw: Any) -> tuple[Test | None, str | None]:
    if isinstance(raw, bool):
        return None, f"{name}: a whole number or comparison is needed, got {render(raw)}"
    if isinstance(raw, int):
        return Test(name, f"{name} = {raw}", None, False, raw, raw), None
    if not isinstance(raw, Mapping) or not raw:
        return None, f"{name}: write a number or a comparison such as {{'>=': 5}}"
    low, high, parts = INT_MIN, INT_MAX, []
    for operator, bound in raw.items():
        if operator not in COMPARATORS:
            return None, f"{name}: unknown comparison {operator!r} (use >=, >, <=, <)"
        if isinstance(bound, bool) or not isinstance(bound, int):
            return None, f"{name}: {operator} needs a whole number, got {render(bound)}"
        parts.append(f"{name} {operator} {bound}")
        if operator == ">=":
            low = max(low, bound)
        elif operator == ">":
            low = max(low, bound + 1)
        elif operator == "<=":
            high = min(high, bound)
        else:
            high = min(high, bound - 1)
    return Test(name, " and ".join(parts), None, False, low, high), None
