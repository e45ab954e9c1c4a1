"""Deciding cases: the Router (engine + memo, swapped atomically on reload) and the reference pipeline."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import TypeVar

from services.common.schemas import Decision, ReceivedCase
from services.router.encoded import Encoded
from services.router.engine import Engine, EngineError
from services.router.facts import Facts
from services.router.lookups import Lookups
from services.router.memo import SEGMENTS, Pipeline
from services.router.model import CompiledRules, Rule, Table
from services.router.problems import RoutingError
from services.router.received import CaseLike
from services.router.steps import (
    Evaluate,
    Routing,
    decision_of,
    effective,
    guard_own_complaint,
    resolve,
    run_tables,
    start,
)

T = TypeVar("T")
# Turns routings into results, the pipeline's decisions or their encodings; EngineError propagates.
Finish = Callable[[Pipeline, Sequence[Routing]], list[T | RoutingError]]

__all__ = [
    "Evaluate",
    "Router",
    "Routing",
    "deciding_rules",
    "decision_of",
    "evaluate_in_python",
    "python_hits",
    "run_pipeline",
]


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
    return effective(table, python_hits(table, facts))


def run_pipeline(rules: CompiledRules, cases: Sequence[ReceivedCase], evaluate: Evaluate) -> list[Routing]:
    """Every table for every case, no memo, with the facts each table saw; raises the first error."""
    lookups = Lookups(rules)
    routings = [start(rules, case, lookups) for case in cases]
    first, second = SEGMENTS
    run_tables(rules, routings, first, evaluate, snapshot=True)
    _raise_first(routings)
    for routing in routings:
        resolve(lookups, routing)
    run_tables(rules, routings, second, evaluate, snapshot=True)
    _raise_first(routings)
    for routing in routings:
        guard_own_complaint(rules.directory, routing)
    return routings


def _raise_first(routings: Sequence[Routing]) -> None:
    for routing in routings:
        if routing.error is not None:
            raise routing.error


class Router:
    """One per process: owns the durable_rules Host. Rebuilds it after an engine error.

    With `memo` (the default) each distinct fact pattern goes through the engine once per ruleset
    version (services/router/memo.py); without it every case does (for measurements and checks).
    """

    def __init__(self, rules: CompiledRules, *, memo: bool = True) -> None:
        self._memo = memo
        self._current = self._build(rules)
        self._swap_lock = threading.Lock()

    def _build(self, rules: CompiledRules) -> tuple[CompiledRules, Engine, Pipeline]:
        engine = Engine(list(rules.tables.values()))
        return rules, engine, Pipeline(rules, engine.evaluate, memo=self._memo)

    @property
    def rules(self) -> CompiledRules:
        return self._current[0]

    @property
    def pipeline(self) -> Pipeline:
        return self._current[2]

    def decide(self, case: ReceivedCase) -> Decision:
        return self.decide_many([case])[0]

    def decide_many(self, cases: Sequence[ReceivedCase]) -> list[Decision]:
        """Decisions for all cases; raises the first RoutingError."""
        decisions = []
        for result in self.decide_each(cases):
            if isinstance(result, RoutingError):
                raise result
            decisions.append(result)
        return decisions

    def decide_each(self, cases: Sequence[CaseLike]) -> list[Decision | RoutingError]:
        """A decision or the reason there is none, per case; one bad case does not affect the others."""
        return self._each(cases, Pipeline.decide_each)

    def encode_each(self, cases: Sequence[CaseLike]) -> list[Encoded | RoutingError]:
        """As decide_each, each decision as the service writes it: its JSON and its metrics' tally."""
        return self._each(cases, Pipeline.encode_each)

    def _each(self, cases: Sequence[CaseLike], finish: Finish[T]) -> list[T | RoutingError]:
        rules, _engine, pipeline = self._current  # one snapshot, so a swap never mixes two rule versions
        routings: list[Routing] = []
        refused: dict[int, RoutingError] = {}  # by position: cases that cannot even be started
        for position, case in enumerate(cases):
            try:
                routings.append(start(rules, case, pipeline.lookups))
            except RoutingError as error:
                refused[position] = error
        try:
            decided = finish(pipeline, routings)
        except EngineError as error:
            if len(routings) == 1:
                decided = [error]
            else:
                # The engine was rebuilt; find the case(s) it fails on instead of failing the batch.
                decided = [self._alone(pipeline, routing, finish) for routing in routings]
        if not refused:
            return decided
        rest = iter(decided)
        return [refused[position] if position in refused else next(rest) for position in range(len(cases))]

    @staticmethod
    def _alone(pipeline: Pipeline, routing: Routing, finish: Finish[T]) -> T | RoutingError:
        try:
            return finish(pipeline, [start(pipeline.rules, routing.case, pipeline.lookups)])[0]
        except EngineError as error:
            return error

    def swap(self, rules: CompiledRules) -> None:
        """Atomically replace the rules; the new Host (and an empty memo) is built before the old one goes."""
        current = self._build(rules)
        with self._swap_lock:
            old = self._current[1]
            self._current = current
        old.close()

    def close(self) -> None:
        self._current[1].close()
