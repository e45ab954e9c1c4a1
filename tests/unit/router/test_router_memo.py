"""The memo in front of the engine is exact: same decisions as evaluating every case, on every path."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from router_helpers import make_case

from services.router import engine as engine_module
from services.router.decide import decision_of, evaluate_in_python, run_pipeline
from services.router.engine import Engine, EngineError
from services.router.memo import SEGMENTS, Segment
from services.router.rules import CompiledRules, Router, RoutingError, load_rules
from services.router.samples import sample_cases
from services.router.steps import resolve, start


def outcome(result: Any) -> Any:
    return f"error: {result}" if isinstance(result, Exception) else result


def reference(rules: CompiledRules, case: Any) -> Any:
    try:
        return decision_of(rules, run_pipeline(rules, [case], evaluate_in_python(rules))[0])
    except RoutingError as error:
        return f"error: {error}"


def test_memo_decides_like_the_engine_on_every_case_and_like_python(demo_rules: CompiledRules) -> None:
    cases = sample_cases(demo_rules, 3000, seed=11)
    memo, plain = Router(demo_rules), Router(demo_rules, memo=False)
    try:
        remembered = [outcome(result) for result in memo.decide_each(cases)]
        evaluated = [outcome(result) for result in plain.decide_each(cases)]
    finally:
        memo.close()
        plain.close()
    assert remembered == evaluated
    assert remembered == [reference(demo_rules, case) for case in cases]
    # The samples reach every disposition and most flags, so the comparison covers every branch.
    dispositions = {decision.disposition for decision in remembered if not isinstance(decision, str)}
    assert dispositions == {"handle", "forward", "assign", "divert_legal", "reject_concluded", "merge", "redirect"}


def test_each_fact_pattern_goes_through_the_engine_once(demo_rules: CompiledRules) -> None:
    router = Router(demo_rules)
    cases = sample_cases(demo_rules, 2000, seed=3)
    first = router.decide_many(cases)
    learned = router.pipeline.evaluated
    assert 0 < learned < len(cases)  # patterns repeat across cases
    again = router.decide_many(list(reversed(cases)))
    assert router.pipeline.evaluated == learned  # nothing new for the engine
    assert again == list(reversed(first))
    router.close()


def test_whole_numbers_are_keyed_by_the_interval_the_rules_tell_apart(demo_rules: CompiledRules) -> None:
    router = Router(demo_rules)
    segment = Segment(demo_rules, SEGMENTS[1], frozenset())
    lookups = router.pipeline.lookups

    def key(people: int) -> Any:
        routing = start(demo_rules, make_case(people_count=people), lookups)
        router.pipeline.segments[0].run(demo_rules, [routing], router.pipeline.evaluate)
        resolve(lookups, routing)
        return segment.key(routing)

    # flags: collective at >= 5; urgency: mass collective at >= 50.
    assert key(6) == key(7) == key(49)
    assert len({key(1), key(4), key(5), key(50), key(5000)}) == 3
    assert key(4) != key(5) and key(49) != key(50)
    router.close()


def test_a_swap_starts_an_empty_memo_with_the_new_rules(rules_copy: Path) -> None:
    router = Router(load_rules(rules_copy))
    case = make_case()
    assert router.decide(case).handling_unit == "150627:hrss"
    table = rules_copy / "tables" / "competence.yaml"
    wage_arrears = "then: {department: hrss, level: county}\n"
    table.write_text(table.read_text().replace(wage_arrears, "then: {department: hrss, level: city}\n", 1))
    changed = load_rules(rules_copy)
    router.swap(changed)
    assert router.pipeline.evaluated == 0
    decision = router.decide(case)
    assert decision.handling_unit == "150600:hrss" and decision.ruleset_version == changed.version
    router.close()


def test_a_bad_case_does_not_fail_its_batch(router: Router) -> None:
    results = router.decide_each([make_case(location="159999999"), make_case(), make_case(received_by="150627:nosuch")])
    assert isinstance(results[0], RoutingError) and str(results[0]).startswith("location.region:")
    assert not isinstance(results[1], Exception) and results[1].disposition == "forward"
    assert isinstance(results[2], RoutingError) and str(results[2]).startswith("received_by:")


def test_an_engine_failure_is_narrowed_down_to_the_case_that_causes_it(
    demo_rules: CompiledRules, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = Engine.evaluate

    def fail_on_13(self: Engine, table_name: str, fact_sets: Any) -> list[list[str]]:
        if any(facts.get("people_count") == 13 for facts in fact_sets):
            self.rebuild()
            raise EngineError("engine failed on purpose")
        return original(self, table_name, fact_sets)

    monkeypatch.setattr(engine_module.Engine, "evaluate", fail_on_13)
    router = Router(demo_rules)
    results = router.decide_each([make_case(people_count=2), make_case(people_count=13), make_case(people_count=3)])
    router.close()
    assert isinstance(results[1], EngineError)
    assert [type(result).__name__ for result in (results[0], results[2])] == ["Decision", "Decision"]


def test_cached_look_ups_agree_with_the_directory(demo_rules: CompiledRules) -> None:
    """Facts and competent units from services/router/lookups.py, against the directory asked directly."""
    directory, tree = demo_rules.directory, demo_rules.directory.tree
    router = Router(demo_rules)
    cases = sample_cases(demo_rules, 1500, seed=8)
    routings = [start(demo_rules, case, router.pipeline.lookups) for case in cases]
    router.pipeline.decide_each(routings)
    router.close()

    def county(code: str) -> str:
        region = tree.ancestor_at(code, "county")
        return region.code if region is not None else code

    checked = 0
    for case, routing in zip(cases, routings, strict=True):
        facts, matter = routing.facts, case.location.region
        assert facts["in_scope"] == directory.in_scope(matter)
        assert facts["matter_level"] == tree.level(matter)
        assert facts["received_level"] == tree.level(case.received_by.partition(":")[0])
        if case.target_unit is not None:
            assert facts["cross_region"] == (county(matter) != county(case.target_unit.partition(":")[0]))
        if (
            not facts["in_scope"]
            or routing.outputs["anchor"] != "matter"
            or any(t.startswith("gap:") for t in routing.trace)
        ):
            continue
        start_region = directory.at_or_above(matter, routing.outputs["level"])
        assert routing.competent == directory.find_up(start_region, routing.outputs["department"])
        checked += 1
    assert checked > 1000


def test_sensitive_days_by_arithmetic_match_the_time_zone(demo_rules: CompiledRules) -> None:
    """Lookups.sensitive reads the day without astimezone() for a zone with one offset: the same days."""
    import random
    from dataclasses import replace
    from datetime import UTC, datetime, timedelta
    from zoneinfo import ZoneInfo

    from services.router.lookups import Lookups, fixed_offset

    assert fixed_offset(ZoneInfo("Asia/Shanghai")) == 8 * 3600
    assert fixed_offset(ZoneInfo("Europe/Berlin")) is None  # summer time: astimezone() it is
    rng = random.Random(3)
    for zone_name in ("Asia/Shanghai", "Europe/Berlin", "Asia/Kathmandu"):
        zone = ZoneInfo(zone_name)
        rules = replace(demo_rules, deployment=replace(demo_rules.deployment, timezone=zone))
        lookups = Lookups(rules)
        window = rules.deployment.windows[0]
        for _ in range(3000):
            bound = rng.choice((window.start, window.end))  # around a window's first or last day
            day = datetime.fromisoformat(bound if len(bound) == 10 else f"2026-{bound}")
            local = day.replace(tzinfo=zone) + timedelta(minutes=rng.randrange(-2 * 1440, 3 * 1440))
            for instant in (local, local.astimezone(UTC), local.astimezone(ZoneInfo("America/New_York"))):
                expected = rules.deployment.window_on(instant.astimezone(zone).date()) is not None
                assert lookups.sensitive(instant) == expected, (zone_name, instant)
        assert any(lookups._days.values()) and not all(lookups._days.values())  # both kinds of day were seen
