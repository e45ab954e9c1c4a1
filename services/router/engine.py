"""durable_rules, used carefully: one Host per Router, stateless, no timers, every result checked.

Known engine hazards and how this module avoids them:
- >1024 live session ids break a ruleset; session ids collide on a 32-bit hash; re-posting a failed
  session id segfaults: nothing here names a session, so every message goes to the one default
  session of its ruleset, and a failed Host is thrown away, never posted to again.
- Host() starts two timer threads that race with state deletion: `_run` is overridden, so no timer
  thread ever starts (no rule uses timers).
- Exceptions in actions are swallowed into the returned state: actions record their own failure and
  every returned state is inspected for `exception`; either raises EngineError.
- An event is consumed by exactly one rule (lowest `pri`, undocumented otherwise): every compiled rule
  carries an explicit `pri`; collect tables, which need every match, assert facts and retract them.
- Partially matched join rules stay in memory: every compiled rule has a single condition, no joins.
- A rule that matches anything also matches the session state and loops for ever: every condition
  requires the table's marker field, which the state never has.
- Rulesets are not freed with their Host: `close()` deletes them explicitly.
- Builds from source only, does not import on Python 3.13: refused here with a clear message.
"""

from __future__ import annotations

import copy
import sys
import threading
from collections.abc import Callable, Sequence
from typing import Any

if sys.version_info >= (3, 13):  # pragma: no cover - depends on the interpreter
    raise ImportError("durable_rules 2.0.28 does not import on Python 3.13 or later; use Python 3.11 or 3.12")

from durable.engine import Host, durable_rules_engine

from services.router.facts import Facts
from services.router.model import Table
from services.router.problems import RoutingError

MARK = "xf_table"
CATCH_ALL = "$catch_all"
# Collect tables need every match, so their rows see facts; the others consume one event each.
# A unique table is checked for conflicting overlaps before it is used, so one match is enough.
FACT_TABLES = ("collect",)


class EngineError(RoutingError):
    """The rule engine failed; the Host that failed has been replaced."""


def ruleset_definition(table: Table) -> dict[str, dict[str, Any]]:
    """The durable_rules JSON ruleset of one decision table (one rule per table row)."""
    definition: dict[str, dict[str, Any]] = {}
    for position, rule in enumerate(table.rules, start=1):
        terms: list[dict[str, Any]] = [{MARK: table.name}]
        for test in rule.condition.tests:
            terms += test.to_durable(table.facts[test.fact].values())
        condition = terms[0] if len(terms) == 1 else {"$and": terms}
        priority = rule.priority if table.hit == "priority" else position
        if rule.is_default and table.hit == "unique":
            priority = len(table.rules) + 1  # only when no other row matches
        definition[rule.id] = {"all": [{"m": condition}], "pri": priority, "run": f"{table.name}/{rule.id}"}
    if table.default is None:
        # A collect table may have no default rule; the engine still needs every message handled.
        last = len(table.rules) + 1
        definition[CATCH_ALL] = {"all": [{"m": {MARK: table.name}}], "pri": last, "run": f"{table.name}/{CATCH_ALL}"}
    return definition


def ruleset_definitions(tables: Sequence[Table]) -> dict[str, dict[str, dict[str, Any]]]:
    return {table.name: ruleset_definition(table) for table in tables}


class _Host(Host):  # type: ignore[misc]
    def __init__(self, bind: Callable[[str], Callable[[Any], None]]) -> None:
        self._bind = bind
        super().__init__()

    def _run(self) -> None:
        """Host() would start two timer threads here; nothing uses timers and they race with deletes."""

    def get_action(self, action_name: str) -> Callable[[Any], None]:
        return self._bind(action_name)


class Engine:
    """Evaluates decision tables on durable_rules. Calls are serialised: the engine is not thread-safe."""

    def __init__(self, tables: Sequence[Table]) -> None:
        self._tables = {table.name: table for table in tables}
        self._definitions = ruleset_definitions(tables)
        self._lock = threading.Lock()
        self._hits: list[tuple[str, str]] = []
        self._failure: BaseException | None = None
        self._next_id = 0
        self.builds = 0
        self._host = self._build()

    def _build(self) -> _Host:
        host = _Host(self._bind)
        host.set_rulesets(copy.deepcopy(self._definitions))  # registration mutates the definitions
        self.builds += 1
        return host

    def _bind(self, action_name: str) -> Callable[[Any], None]:
        rule_id = action_name.partition("/")[2]

        def action(c: Any) -> None:
            try:
                self._record(str(c.m["id"]), rule_id)
            except BaseException as error:  # durable_rules would swallow it into the state
                self._failure = error
                raise

        return action

    def _record(self, message_id: str, rule_id: str) -> None:
        self._hits.append((message_id, rule_id))

    def evaluate(self, table_name: str, fact_sets: Sequence[Facts]) -> list[list[str]]:
        """For each fact set, the ids of the rules that fired, in priority order."""
        if not fact_sets:
            return []
        table = self._tables[table_name]
        with self._lock:
            messages: list[dict[str, Any]] = []
            for facts in fact_sets:
                self._next_id += 1
                messages.append({**facts, MARK: table_name, "id": f"m{self._next_id}"})
            self._hits, self._failure = [], None
            try:
                if table.hit in FACT_TABLES:
                    state = self._host.assert_facts(table_name, messages)
                    self._check(state)
                    self._host.retract_facts(table_name, [{"id": message["id"]} for message in messages])
                else:
                    state = self._host.post_batch(table_name, messages)
                    self._check(state)
            except BaseException as error:
                self._rebuild()
                if isinstance(error, EngineError):
                    raise
                raise EngineError(f"rule engine failed on table {table_name}: {error!r}") from error
            by_message: dict[str, list[str]] = {message["id"]: [] for message in messages}
            for message_id, rule_id in self._hits:
                if rule_id != CATCH_ALL:
                    by_message[message_id].append(rule_id)
        results = list(by_message.values())
        if table.hit not in FACT_TABLES and any(len(hits) != 1 for hits in results):
            self.rebuild()
            raise EngineError(f"table {table_name}: an event was not consumed by exactly one rule")
        return results

    def _check(self, state: Any) -> None:
        if self._failure is not None:
            raise EngineError(f"action failed: {self._failure!r}") from self._failure
        if isinstance(state, dict) and "exception" in state:
            raise EngineError(f"action failed: {state['exception']}")

    def rebuild(self) -> None:
        with self._lock:
            self._rebuild()

    def _rebuild(self) -> None:
        self._close_host()
        self._host = self._build()

    def close(self) -> None:
        with self._lock:
            self._close_host()

    def _close_host(self) -> None:
        for ruleset in list(getattr(self._host, "_ruleset_list", [])):
            durable_rules_engine.delete_ruleset(ruleset._handle)
        self._host._ruleset_list = []
        self._host._ruleset_directory = {}
