"""One test per durable_rules hazard, showing how the router's use of the engine avoids it."""

from __future__ import annotations

import subprocess
import sys
import threading
import tomllib
from pathlib import Path
from typing import Any

import pytest
from durable.engine import durable_rules_engine
from router_helpers import make_case

from services.common.settings import PROJECT_ROOT
from services.router import engine as engine_module
from services.router.decide import run_pipeline
from services.router.engine import CATCH_ALL, MARK, Engine, EngineError, ruleset_definitions
from services.router.facts import Facts
from services.router.rules import CompiledRules, Router, RoutingError

CATEGORIES = ["wage_arrears", "housing", "land_acquisition", "neighbourhood", "enterprise_restructuring"]
TOWNS = ["150627107", "150627100", "150102001", "150121100", "150602001"]


def many_cases(count: int, start: int = 0) -> list[Any]:
    return [
        make_case(
            case_id=f"XF-{start + n}",
            petitioner_key=f"pk-hazard-{start + n:08d}",
            category=CATEGORIES[n % len(CATEGORIES)],
            location=TOWNS[n % len(TOWNS)],
            people_count=1 + n % 9,
            history={"prior_cases": n % 4},
        )
        for n in range(count)
    ]


def resident_kib() -> int:
    fields = Path("/proc/self/status").read_text().split("VmRSS:")[1].split()
    return int(fields[0])


def sids_posted(monkeypatch: pytest.MonkeyPatch) -> set[str]:
    """Spies on every message handed to the Host; returns the set of session ids they name."""
    seen: set[str] = set()
    for name in ("post_batch", "assert_facts", "retract_facts"):
        original = getattr(engine_module._Host, name)

        def spy(self: Any, ruleset: str, messages: list[dict[str, Any]], _original: Any = original) -> Any:
            seen.update(str(message.get("sid", "0")) for message in messages)
            return _original(self, ruleset, messages)

        monkeypatch.setattr(engine_module._Host, name, spy)
    return seen


def test_no_per_case_sessions_so_no_1024_limit_or_hash_collisions(
    demo_rules: CompiledRules, monkeypatch: pytest.MonkeyPatch
) -> None:
    """>1024 live session ids → MemoryError; 32-bit sid hashes collide: every message uses the one default session."""
    sids = sids_posted(monkeypatch)
    router = Router(demo_rules)
    try:
        for batch in range(6):
            decisions = router.decide_many(many_cases(500, start=batch * 500))
            assert len(decisions) == 500
        assert sids == {"0"}
    finally:
        router.close()


def test_thousands_of_decisions_leave_nothing_in_the_engine(demo_rules: CompiledRules) -> None:
    """Partial join matches stay in memory; facts stay until retracted: nothing is left behind."""
    router = Router(demo_rules)
    try:
        router.decide_many(many_cases(2000))  # warm up allocator and caches
        before = resident_kib()
        for batch in range(10):
            router.decide_many(many_cases(1000, start=10_000 + batch * 1000))
        grown = resident_kib() - before
        host = router._current[1]._host
        for table in demo_rules.tables:
            assert host.get_facts(table) == []
            assert host.get_pending_events(table) == []
        assert grown < 20_000, f"resident memory grew by {grown} KiB over 10,000 decisions"
    finally:
        router.close()


def test_compiled_rules_have_one_condition_an_explicit_priority_and_the_table_marker(demo_rules: CompiledRules) -> None:
    """No joins (no partial matches); explicit `pri` (consumption order); the marker keeps rules off the state."""
    for table_name, definition in ruleset_definitions(list(demo_rules.tables.values())).items():
        priorities = []
        for rule_id, rule in definition.items():
            assert len(rule["all"]) == 1, rule_id
            condition = rule["all"][0]["m"]
            terms = condition.get("$and", [condition])
            assert {MARK: table_name} in terms, rule_id
            assert isinstance(rule["pri"], int)
            priorities.append(rule["pri"])
        assert len(set(priorities)) == len(priorities), table_name


def test_first_hit_follows_priority_not_definition_order(
    demo_rules: CompiledRules, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An event is consumed by one rule, lowest pri first: reversing the definitions changes nothing."""
    tables = list(demo_rules.tables.values())
    facts = []
    for case in many_cases(50):
        routing = run_pipeline(demo_rules, [case], Engine(tables).evaluate)[0]
        facts.append(routing.facts_by_table["urgency"])
    in_order = Engine(tables).evaluate("urgency", facts)
    original = engine_module.ruleset_definitions

    def reversed_definitions(tables_: Any) -> dict[str, dict[str, Any]]:
        return {name: dict(reversed(list(rules.items()))) for name, rules in original(tables_).items()}

    monkeypatch.setattr(engine_module, "ruleset_definitions", reversed_definitions)
    reversed_engine = Engine(tables)
    assert next(iter(reversed_engine._definitions["urgency"])) == "urgency.normal"
    assert reversed_engine.evaluate("urgency", facts) == in_order
    assert any(hits != ["urgency.normal"] for hits in in_order)


def test_no_timer_threads(demo_rules: CompiledRules) -> None:
    """Host() starts timer threads that race with state deletion: ours never starts them."""
    before = {thread.ident for thread in threading.enumerate()}
    router = Router(demo_rules)
    router.decide_many(many_cases(100))
    router.swap(demo_rules)
    router.decide(make_case())
    new_threads = [t for t in threading.enumerate() if t.ident not in before]
    router.close()
    assert not [t for t in new_threads if isinstance(t, threading.Timer)]
    assert not new_threads


def test_exception_in_an_action_surfaces_and_the_host_is_rebuilt(
    demo_rules: CompiledRules, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Exceptions in actions are swallowed into the state by durable_rules; ours raise EngineError."""
    router = Router(demo_rules)
    engine = router._current[1]
    failed_host = engine._host
    builds = engine.builds

    def boom(self: Engine, message_id: str, rule_id: str) -> None:
        raise ValueError("action failed on purpose")

    monkeypatch.setattr(Engine, "_record", boom)
    with pytest.raises(EngineError, match="action failed on purpose") as error:
        router.decide(make_case())
    assert isinstance(error.value, RoutingError)
    monkeypatch.undo()
    # The failed Host (and its session) is never posted to again: a new one replaced it.
    assert engine.builds == builds + 1 and engine._host is not failed_host
    assert failed_host._ruleset_list == []
    assert router.decide(make_case()).disposition == "forward"
    router.close()


def test_exception_reported_only_in_the_state_is_caught(demo_rules: CompiledRules) -> None:
    engine = Engine(list(demo_rules.tables.values()))
    with pytest.raises(EngineError, match="exception caught"):
        engine._check({"sid": "0", "exception": "exception caught boom"})
    engine.close()


def test_rulesets_are_freed_when_rules_are_swapped(demo_rules: CompiledRules, monkeypatch: pytest.MonkeyPatch) -> None:
    """The engine keeps a Host's rulesets alive after the Host is gone: swap deletes them."""
    deleted: list[int] = []
    original = durable_rules_engine.delete_ruleset

    def delete_ruleset(handle: int) -> None:
        deleted.append(handle)
        original(handle)

    monkeypatch.setattr(durable_rules_engine, "delete_ruleset", delete_ruleset)
    router = Router(demo_rules)
    for _ in range(20):
        router.swap(demo_rules)
    assert len(deleted) == 20 * len(demo_rules.tables)
    assert router.decide(make_case()).handling_unit == "150627:hrss"
    router.close()


def test_collect_table_without_default_still_handles_every_fact(demo_rules: CompiledRules) -> None:
    """A fact no rule matches would raise MessageNotHandled: collect tables get a catch-all that leaves no trace."""
    assert demo_rules.tables["flags"].default is None
    definition = ruleset_definitions([demo_rules.tables["flags"]])["flags"]
    assert definition[CATCH_ALL]["all"][0]["m"] == {MARK: "flags"}
    engine = Engine([demo_rules.tables["flags"]])
    facts: Facts = {}
    for name, spec in demo_rules.tables["flags"].facts.items():
        facts[name] = False if spec.kind == "bool" else 0
    facts.update({"channel": "letter", "disposition": "merge", "prior_cases": -1})
    assert engine.evaluate("flags", [facts]) == [[]]
    engine.close()


def test_python_versions_are_pinned_and_313_is_refused() -> None:
    """durable_rules builds from source and does not import on Python 3.13."""
    project = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())["project"]
    assert project["requires-python"] == ">=3.11,<3.13"
    assert (3, 11) <= sys.version_info[:2] < (3, 13)
    pretend = (
        "import sys; sys.version_info = (3, 13, 0, 'final', 0)\n"
        "try:\n    import services.router.engine\nexcept ImportError as e:\n    print(e)\n"
    )
    result = subprocess.run([sys.executable, "-c", pretend], cwd=PROJECT_ROOT, capture_output=True, text=True)
    assert "does not import on Python 3.13" in result.stdout


def test_decisions_are_stateless_across_hosts(demo_rules: CompiledRules) -> None:
    """Nothing depends on what an earlier case left: a fresh Router decides the same."""
    cases = many_cases(200)
    first = Router(demo_rules)
    warmed = first.decide_many(many_cases(300, start=5000)) and first.decide_many(cases)
    first.close()
    fresh = Router(demo_rules)
    assert fresh.decide_many(list(reversed(cases))) == list(reversed(warmed))
    fresh.close()
