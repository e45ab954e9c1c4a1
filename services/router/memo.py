"""Exact memoisation of what the decision tables do to a case: the same facts fire the same rules.

The tables run in two segments with the competent unit resolved in Python in between. What a segment
does to a case (rules fired, outputs, flags, derived facts, or a conflict error) depends only on the
segment's inputs: the facts its rules test, as they stand when the segment starts (facts that an
earlier table of the segment sets are outputs, not inputs), and the flags set so far. Whole-number
facts are reduced to the interval between the bounds the rules test, so 6 and 7 people make the same
key when no rule tells them apart. A segment key that is new is worked out table by table through a
second memo keyed by each table's own inputs, so durable_rules evaluates each table's distinct input
pattern once per ruleset version, batched. A reload builds new memos: nothing outlives its rules.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from operator import itemgetter
from typing import Any

from services.common.schemas import Decision
from services.router.conditions import INT_MAX, INT_MIN, Scalar, Test
from services.router.encoded import Encoded, TraceTemplate
from services.router.facts import Facts
from services.router.lookups import Lookups
from services.router.model import TABLE_NAMES, TABLE_SPECS, CompiledRules
from services.router.problems import RoutingError
from services.router.steps import (
    RESOLVE_BEFORE,
    Evaluate,
    Routing,
    decision_of,
    guard_own_complaint,
    handling_unit,
    resolve,
    run_tables,
    written_facts,
)

SEGMENTS: tuple[tuple[str, ...], tuple[str, ...]] = (
    TABLE_NAMES[: TABLE_NAMES.index(RESOLVE_BEFORE)],
    TABLE_NAMES[TABLE_NAMES.index(RESOLVE_BEFORE) :],
)
MAX_ENTRIES = 65_536
OUTPUT_KEYS = {spec.name: tuple(key for key in spec.outputs if key != "flags") for spec in TABLE_SPECS}
Key = tuple[Any, ...]


@dataclass(frozen=True, slots=True)
class Delta:
    """What one segment did to a case."""

    trace: tuple[str, ...]
    outputs: dict[str, Any]
    flags: tuple[str, ...]
    facts: dict[str, Scalar]
    error: RoutingError | None = None

    def apply(self, routing: Routing) -> None:
        if self.error is not None:
            routing.error = self.error
            return
        routing.trace += self.trace
        routing.outputs.update(self.outputs)
        for flag in self.flags:
            if flag not in routing.flags:
                routing.flags.append(flag)
        routing.facts.update(self.facts)


def _number_class(bounds: tuple[int, ...], value: Any) -> Any:
    if type(value) is int:
        return bisect_right(bounds, value)
    return ("not a whole number", type(value).__name__, value)  # never equal to a class number


def tested_facts(rules: CompiledRules, table_names: Sequence[str]) -> frozenset[str]:
    return frozenset(
        test.fact for name in table_names for rule in rules.tables[name].rules for test in rule.condition.tests
    )


class FactKey:
    """The key of a set of facts as some tests see them: values, and whole numbers as intervals."""

    def __init__(self, tests: Sequence[Test]) -> None:
        plain = sorted({test.fact for test in tests if test.allowed is not None})
        bounds: dict[str, set[int]] = {}
        for test in tests:
            if test.allowed is None:
                edges = bounds.setdefault(test.fact, set())
                if test.low > INT_MIN:
                    edges.add(test.low)
                if test.high < INT_MAX:
                    edges.add(test.high + 1)
        self.facts = tuple(sorted(set(plain) | set(bounds)))
        self._plain: Callable[[dict[str, Scalar]], Any] = itemgetter(*plain) if plain else (lambda facts: ())
        self._numbers = tuple((name, tuple(sorted(edges))) for name, edges in sorted(bounds.items()))

    def __call__(self, facts: dict[str, Scalar]) -> Key:
        if not self._numbers:
            return (self._plain(facts), ())
        return (self._plain(facts), tuple([_number_class(edges, facts[name]) for name, edges in self._numbers]))


class TableMemo:
    """Under the segments: what each table fired for the facts it tests, so that a new combination
    of tables' inputs (a segment miss) only sends the tables whose own inputs are new to the engine."""

    def __init__(self, rules: CompiledRules, evaluate: Evaluate) -> None:
        self._evaluate = evaluate
        self._keys = {
            name: FactKey([test for rule in table.rules for test in rule.condition.tests])
            for name, table in rules.tables.items()
        }
        self.memo: dict[tuple[str, Key], tuple[str, ...]] = {}
        self.evaluated = 0  # fact sets sent to the engine

    def evaluate(self, table_name: str, fact_sets: Sequence[Facts]) -> list[list[str]]:
        if len(self.memo) >= MAX_ENTRIES:
            self.memo.clear()
        keyer = self._keys[table_name]
        keys = [(table_name, keyer(facts)) for facts in fact_sets]
        missing: dict[tuple[str, Key], Facts] = {}
        for key, facts in zip(keys, fact_sets, strict=True):
            if key not in self.memo and key not in missing:
                missing[key] = facts
        if missing:
            fired = self._evaluate(table_name, list(missing.values()))
            self.evaluated += len(missing)
            for key, hits in zip(missing, fired, strict=True):
                self.memo[key] = tuple(hits)
        return [list(self.memo[key]) for key in keys]


class Segment:
    def __init__(self, rules: CompiledRules, table_names: tuple[str, ...], later: frozenset[str]) -> None:
        """`later`: the facts that the tables after this segment test (the only facts worth carrying on)."""
        self.table_names = table_names
        inputs: list[Test] = []
        written: set[str] = set()
        for name in table_names:
            for rule in rules.tables[name].rules:
                # A fact set by an earlier table of this segment is an output, not an input.
                inputs += [test for test in rule.condition.tests if test.fact not in written]
            written.update(written_facts(name))
        self._key = FactKey(inputs)
        self.inputs = self._key.facts
        self._outputs = tuple(key for name in table_names for key in OUTPUT_KEYS[name])
        written_here = dict.fromkeys(fact for name in table_names for fact in written_facts(name))
        self._written = tuple(fact for fact in written_here if fact in later)
        self.memo: dict[Key, Delta] = {}

    def key(self, routing: Routing) -> Key:
        return (tuple(routing.flags), self._key(routing.facts))

    def run(self, rules: CompiledRules, routings: Sequence[Routing], evaluate: Evaluate) -> int:
        """Apply the segment to every routing without an error; returns how many keys were new."""
        memo = self.memo
        if len(memo) >= MAX_ENTRIES:
            memo.clear()
        facts_key = self._key
        waiting: list[tuple[Routing, Key]] = []
        misses: dict[Key, Routing] = {}
        for routing in routings:
            if routing.error is not None:
                continue
            key = (tuple(routing.flags), facts_key(routing.facts))  # hashed once: tuples do not keep it
            delta = memo.get(key)
            if delta is None:
                waiting.append((routing, key))
                misses.setdefault(key, routing)
            else:
                delta.apply(routing)
        if misses:
            self._learn(rules, misses, evaluate)
            for routing, key in waiting:
                memo[key].apply(routing)
        return len(misses)

    def _learn(self, rules: CompiledRules, misses: dict[Key, Routing], evaluate: Evaluate) -> None:
        # Copies, so that a failure of the engine leaves the cases untouched for a retry.
        samples = [routing.copy() for routing in misses.values()]
        run_tables(rules, samples, self.table_names, evaluate)
        for (key, before), after in zip(misses.items(), samples, strict=True):
            self.memo[key] = self._delta(before, after)

    def _delta(self, before: Routing, after: Routing) -> Delta:
        if after.error is not None:
            return Delta((), {}, (), {}, after.error)
        return Delta(
            trace=tuple(after.trace[len(before.trace) :]),
            outputs={key: after.outputs[key] for key in self._outputs if key in after.outputs},
            flags=tuple(flag for flag in after.flags if flag not in before.flags),
            facts={name: after.facts[name] for name in self._written},
        )


class Pipeline:
    """Decides batches of cases with one rule set and one engine; remembers what the engine answered."""

    def __init__(self, rules: CompiledRules, evaluate: Evaluate, *, memo: bool = True, guard: bool = True) -> None:
        self.rules = rules
        self.guard = guard  # off only for `xf rules check`, which proves the rules never need it
        self._engine = evaluate
        self.remember = memo
        self.lookups = Lookups(rules)
        self.evaluate: Evaluate = TableMemo(rules, self._counted).evaluate if memo else self._counted
        first, second = SEGMENTS
        self.segments = (Segment(rules, first, tested_facts(rules, second)), Segment(rules, second, frozenset()))
        self._decisions: dict[bytes, Decision] = {}
        self._templates: dict[tuple[str, ...], TraceTemplate] = {}
        self._encodings: dict[Key, Encoded] = {}
        self.cases = 0
        self.evaluated = 0  # fact sets the engine evaluated (one per table and case, or per new pattern)

    def _counted(self, table_name: str, fact_sets: Sequence[Facts]) -> list[list[str]]:
        fired = self._engine(table_name, fact_sets)
        self.evaluated += len(fact_sets)
        return fired

    def decide_each(self, routings: Sequence[Routing]) -> list[Decision | RoutingError]:
        """Decisions for routings started with `steps.start`; EngineError propagates (for the whole batch)."""
        self.route(routings)
        return [routing.error if routing.error is not None else self._decision(routing) for routing in routings]

    def encode_each(self, routings: Sequence[Routing]) -> list[Encoded | RoutingError]:
        """As decide_each, with each decision as the service writes it (services/router/encoded.py)."""
        self.route(routings)
        return [routing.error if routing.error is not None else self._encoded(routing) for routing in routings]

    def route(self, routings: Sequence[Routing]) -> None:
        """Every table and the competent unit for routings started with `steps.start` (no decision built)."""
        first, second = self.segments
        self._run(first, routings)
        for routing in routings:
            if routing.error is None:
                resolve(self.lookups, routing)
        self._run(second, routings)
        if self.guard:
            directory = self.rules.directory
            for routing in routings:
                guard_own_complaint(directory, routing)
        self.cases += len(routings)

    def _run(self, segment: Segment, routings: Sequence[Routing]) -> None:
        if self.remember:
            segment.run(self.rules, routings, self.evaluate)
        else:
            run_tables(self.rules, routings, segment.table_names, self.evaluate)

    def _decision(self, routing: Routing) -> Decision:
        """The decision as the service writes it, read back: `xf route` and the events cannot differ."""
        json = self._encoded(routing).json
        decision = self._decisions.get(json)
        if decision is None:
            if len(self._decisions) >= MAX_ENTRIES:
                self._decisions.clear()
            decision = self._decisions[json] = Decision.model_validate_json(json)
        return decision

    def _encoded(self, routing: Routing) -> Encoded:
        unit, co_units = handling_unit(routing, self.rules.directory)
        trace = tuple(routing.trace)
        key = (trace, unit, co_units)
        known = self._encodings.get(key)
        if known is None:
            if len(self._encodings) >= MAX_ENTRIES:
                self._encodings.clear()
                self._templates.clear()
            template = self._templates.get(trace)
            if template is None:  # the first case with these rules: its decision is validated in full
                template = self._templates[trace] = TraceTemplate(decision_of(self.rules, routing))
            level = self.rules.directory.tree.level(unit.partition(":")[0]) if unit is not None else None
            known = self._encodings[key] = template.encode(unit, level, co_units)
        return known
