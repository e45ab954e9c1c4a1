"""Issue 11's invariants (DOMAIN.md §4.5b): the unit complained about never handles its own complaint,
cross_region only when neither region contains the other, urgency is monotone; proven by
`xf rules check` over the directory, enforced by the router, and tried here on random cases."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from router_helpers import make_case, xf

from services.common.schemas import Decision
from services.router.check import check_rules
from services.router.explain import explain
from services.router.invariants import own_complaints, urgency_monotone
from services.router.rules import CompiledRules, Router, load_rules
from services.router.steps import OWN_COMPLAINT, OWN_COMPLAINT_REDIRECT

URGENCY = {"normal": 0, "urgent": 1, "critical": 2}
PROPERTY = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


@pytest.fixture(scope="module")
def units(demo_rules: CompiledRules) -> list[str]:
    directory = demo_rules.directory
    return sorted(f"{r}:{d}" for r in directory.scope_regions() for d in directory.departments_at(r))


@pytest.fixture(scope="module")
def places(demo_rules: CompiledRules) -> list[str]:
    return sorted(demo_rules.directory.scope_regions())


# --- the unit complained about never handles its own complaint -------------------------------------


def test_check_proves_the_shipped_rules_over_every_unit_and_category(demo_rules: CompiledRules) -> None:
    assert own_complaints(demo_rules) == []


def test_check_names_a_rule_that_sends_a_complaint_back(rules_copy: Path) -> None:
    table = rules_copy / "tables" / "disposition.yaml"
    edit(
        table,
        "then: {disposition: divert_legal, handler: first_contact",
        "then: {disposition: divert_legal, handler: receiver",
    )
    rules = load_rules(rules_copy)  # the loader's checks do not enumerate the directory
    problems = own_complaints(rules)
    assert len(problems) == 1
    [problem] = problems
    assert problem.file == "rules/tables/disposition.yaml"
    assert "disposition.legal_channel" in problem.message and "litigation" in problem.message


def test_the_router_enforces_it_whatever_rule_fires(rules_copy: Path) -> None:
    for old, new in (
        (
            "then: {disposition: divert_legal, handler: first_contact",
            "then: {disposition: divert_legal, handler: receiver",
        ),
        (
            "then: {disposition: redirect, handler: first_contact}\n  - id: disposition.above_scope",
            "then: {disposition: redirect, handler: receiver}\n  - id: disposition.above_scope",
        ),
    ):
        edit(rules_copy / "tables" / "disposition.yaml", old, new)
    router = Router(load_rules(rules_copy))
    try:
        diverted = router.decide(make_case(received_by="150627:hrss", target_unit="150627:hrss", litigation="pending"))
        top = router.decide(make_case(received_by="150000:gov", target_unit="150000:gov", location="110101"))
    finally:
        router.close()
    assert diverted.disposition == "divert_legal" and diverted.handling_unit == "150600:hrss"
    assert diverted.trace[-1] == OWN_COMPLAINT
    assert top.disposition == "redirect" and top.handling_unit is None
    assert top.trace[-1] == OWN_COMPLAINT_REDIRECT
    case = make_case(received_by="150627:hrss", target_unit="150627:hrss", litigation="pending")
    assert "the router overrode them (guard:own_complaint)" in explain(load_rules(rules_copy), case)


def _apart(rules: CompiledRules, a: str, b: str) -> bool:
    tree = rules.directory.tree
    county_a, county_b = tree.ancestor_at(a, "county"), tree.ancestor_at(b, "county")
    same_county = county_a is not None and county_b is not None and county_a == county_b
    return not same_county and not tree.is_within(a, b) and not tree.is_within(b, a)


@PROPERTY
@given(data=st.data())
def test_random_complaints_never_handled_by_the_unit_complained_about(
    data: st.DataObject, router: Router, demo_rules: CompiledRules, units: list[str], places: list[str]
) -> None:
    target = data.draw(st.sampled_from([*units, "000000:hrss", "000000:gov", "110101:housing"]))
    received_by = data.draw(st.one_of(st.just(target), st.sampled_from(units)))
    matter = data.draw(st.one_of(st.just(target.partition(":")[0]), st.sampled_from([*places, "110101"])))
    case = make_case(
        received_by=received_by,
        target_unit=target,
        location=matter,
        category=data.draw(st.sampled_from(sorted(demo_rules.categories))),
        channel=data.draw(st.sampled_from(["letter", "visit", "online"])),
        litigation=data.draw(st.sampled_from(["none", "none", "pending", "judged"])),
        people_count=data.draw(st.integers(1, 80)),
        history=data.draw(
            st.builds(
                dict,
                prior_cases=st.integers(0, 4),
                concluded=st.booleans(),
                open_case_id=st.one_of(st.none(), st.just("XF-OPEN-1")),
            )
        ),
        new_facts=data.draw(st.booleans()),
    )
    decision = router.decide(case)
    assert decision.handling_unit != target, decision.trace
    assert not any(entry.startswith("guard:") for entry in decision.trace), "the shipped rules never need the guard"
    if target.partition(":")[0] in demo_rules.directory.tree and matter in demo_rules.directory.tree:
        assert ("cross_region" in decision.flags) == _apart(demo_rules, matter, target.partition(":")[0])


# --- urgency is monotone ---------------------------------------------------------------------------


def test_check_proves_the_shipped_urgency_table_monotone(demo_rules: CompiledRules) -> None:
    assert urgency_monotone(demo_rules) == []


def test_check_refuses_the_old_table(rules_copy: Path) -> None:
    """Issue 11 defect 4: collective + skip-level to the province got 12 h, a plain collective visit 6 h."""
    table = rules_copy / "tables" / "urgency.yaml"
    text = table.read_text(encoding="utf-8")
    start = text.index("  - id: urgency.collective_skip_level_high")
    end = text.index("  - id: urgency.skip_level_high")
    table.write_text(text[:start] + text[end:], encoding="utf-8")
    rules = load_rules(rules_copy, check=False)
    messages = [problem.message for problem in check_rules(rules)]
    assert any(
        "urgency is not monotone" in message and "'urgency.skip_level_high'" in message and "urgent/12h" in message
        for message in messages
    ), messages
    with pytest.raises(Exception, match="not monotone"):
        load_rules(rules_copy)


def test_check_refuses_a_less_urgent_rule_that_wins(rules_copy: Path) -> None:
    edit(
        rules_copy / "tables" / "urgency.yaml",
        "then: {urgency: critical, lead_leader: principal, report_within_hours: 2}\n  - id: urgency.skip_level_high",
        "then: {urgency: normal, lead_leader: principal}\n  - id: urgency.skip_level_high",
    )
    messages = [problem.message for problem in check_rules(load_rules(rules_copy, check=False))]
    assert any("urgency.collective_skip_level_high" in message and "not monotone" in message for message in messages)


def _seriousness(decision: Decision) -> tuple[int, int]:
    hours = decision.report_within_hours
    return URGENCY[decision.urgency], -(hours if hours is not None else 1 << 30)


SENSITIVE_DAY = "2026-03-05T10:00:00+08:00"  # 两会
QUIET_DAY = "2026-05-06T10:00:00+08:00"


@PROPERTY
@given(
    people=st.integers(1, 60),
    more_people=st.integers(0, 60),
    received_level=st.sampled_from(["150627:petition", "150600:petition", "150000:petition", "000000:petition"]),
    higher=st.booleans(),
    sensitive=st.booleans(),
    to_sensitive=st.booleans(),
    prior=st.integers(0, 4),
    more_prior=st.integers(0, 4),
    overdue=st.booleans(),
    to_overdue=st.booleans(),
)
def test_a_more_serious_case_never_gets_less(
    router: Router,
    people: int,
    more_people: int,
    received_level: str,
    higher: bool,
    sensitive: bool,
    to_sensitive: bool,
    prior: int,
    more_prior: int,
    overdue: bool,
    to_overdue: bool,
) -> None:
    """B meets every criterion A meets (more people, received higher, in a sensitive period, more
    earlier cases, backlog) and maybe more: never a lower urgency nor a longer report window."""
    ladder = ["150627:petition", "150600:petition", "150000:petition", "000000:petition"]

    def case(count: int, unit: str, in_period: bool, prior_cases: int, backlog: bool) -> dict[str, Any]:
        history: dict[str, Any] = {"prior_cases": prior_cases}
        if backlog:
            history |= {"open_case_id": "XF-OPEN-1", "open_case_overdue": True}
        return {
            "channel": "visit",
            "people_count": count,
            "received_by": unit,
            "received_at": SENSITIVE_DAY if in_period else QUIET_DAY,
            "history": history,
        }

    up = ladder[min(ladder.index(received_level) + 1, len(ladder) - 1)] if higher else received_level
    a = router.decide(make_case(**case(people, received_level, sensitive, prior, overdue)))
    b = router.decide(
        make_case(
            **case(people + more_people, up, sensitive or to_sensitive, prior + more_prior, overdue or to_overdue)
        )
    )
    assert _seriousness(b) >= _seriousness(a), (a.trace, b.trace)


# --- lunar windows, villages ------------------------------------------------------------------------


def test_lunar_windows_outside_the_table_never_match() -> None:
    from services.common.deployment import in_window, lunar_month_day

    assert lunar_month_day(datetime(2026, 2, 17).date()) == "01-01"
    assert lunar_month_day(datetime(2100, 6, 1).date()) is None
    assert not in_window(datetime(2100, 6, 1).date(), "12-23", "01-15", "lunar")
    day = datetime(2027, 1, 30).date()
    assert in_window(day, "12-23", "01-15", "lunar") and not in_window(
        day - timedelta(days=1), "12-23", "01-15", "lunar"
    )


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ('  - {id: x, calendar: moon, from: "01-01", to: "01-02"}', "calendar must be solar or lunar"),
        ('  - {id: x, calendar: lunar, from: "2026-01-01", to: "2026-01-02"}', "a lunar window repeats every year"),
        ('  - {id: x, calendar: lunar, from: "13-01", to: "01-02"}', "is not a real lunar date"),
        ('  - {id: x, from: "02-30", to: "03-02"}', "is not a real solar date"),
    ],
)
def test_bad_sensitive_windows_are_refused_with_their_line(rules_copy: Path, entry: str, message: str) -> None:
    path = rules_copy / "deployment.yaml"
    path.write_text(path.read_text(encoding="utf-8") + entry + "\n", encoding="utf-8")
    line = len(path.read_text(encoding="utf-8").splitlines())
    with pytest.raises(Exception) as caught:
        load_rules(rules_copy)
    assert f"rules/deployment.yaml:{line}: " in str(caught.value) and message in str(caught.value)


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ('  "15062710720": 短码村', "must be 12 digits"),
        ('  "150627107000": 镇本身', "must be 12 digits, not ending in 000"),
        ('  "150627999201": 无此镇', "are not a town of the region table"),
        ('  "150627107203": ""', "its name must be text"),
    ],
)
def test_bad_villages_are_refused_with_their_line(rules_copy: Path, entry: str, message: str) -> None:
    path = rules_copy / "villages.yaml"
    path.write_text(path.read_text(encoding="utf-8") + entry + "\n", encoding="utf-8")
    line = len(path.read_text(encoding="utf-8").splitlines())
    with pytest.raises(Exception) as caught:
        load_rules(rules_copy)
    assert f"rules/villages.yaml:{line}: " in str(caught.value) and message in str(caught.value)


def test_a_village_the_rules_do_not_list_is_located_at_its_town(router: Router) -> None:
    """Intake accepts any 12-digit code under a known town: such a case is never lost at the router."""
    decision = router.decide(make_case(category="neighbourhood", location="150627107299"))
    assert decision.handling_unit == "150627107:committee"
    with pytest.raises(Exception, match=r"location\.region"):
        router.decide(make_case(location="150627999299"))  # no such town


def test_residence_must_be_a_known_region(router: Router) -> None:
    with pytest.raises(Exception, match=r"residence\.region"):
        router.decide(make_case(residence={"region": "159999"}))


def test_rules_test_fails_on_an_uncovered_rule_unless_allowed(
    rules_copy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (rules_copy / "tests" / "placement_deadline.yaml").unlink()
    (rules_copy / "tests" / "missing_parts.yaml").unlink()
    assert xf("rules", "test", "--rules", str(rules_copy)) == 1
    out = capsys.readouterr().out
    assert "rules/tables/flags.yaml: 8/10" in out
    assert "not exercised: rules/tables/flags.yaml:" in out and "flags.separation" in out
    assert xf("rules", "test", "--rules", str(rules_copy), "--allow-uncovered") == 0


# --- separation: the matter's place still decides --------------------------------------------------


@PROPERTY
@given(data=st.data())
def test_the_residence_sets_separation_and_changes_nothing_else(
    data: st.DataObject, router: Router, demo_rules: CompiledRules, places: list[str]
) -> None:
    counties = [place for place in places if demo_rules.directory.tree.level(place) == "county"]
    matter = data.draw(st.sampled_from(places))
    residence = data.draw(st.sampled_from(counties))
    fields = {
        "location": matter,
        "category": data.draw(st.sampled_from(sorted(demo_rules.categories))),
        "channel": data.draw(st.sampled_from(["letter", "visit"])),
        "people_count": data.draw(st.integers(1, 60)),
    }
    without = router.decide(make_case(**fields)).model_dump()
    with_residence = router.decide(make_case(**fields, residence={"region": residence})).model_dump()
    separated = "separation" in with_residence["flags"]
    assert separated == _apart(demo_rules, matter, residence)
    with_residence["flags"] = [flag for flag in with_residence["flags"] if flag != "separation"]
    with_residence["trace"] = [rule for rule in with_residence["trace"] if rule != "flags.separation"]
    assert with_residence == without


def test_every_spring_festival_from_1901_to_2099_lies_in_a_window_of_22_or_23_days() -> None:
    from lunardate import LunarDate

    from services.common.deployment import in_window

    for year in range(1901, 2100):
        festival = LunarDate(year, 1, 1).to_solar_date()
        start, end = festival, festival
        while in_window(start - timedelta(days=1), "12-23", "01-15", "lunar"):
            start -= timedelta(days=1)
        while in_window(end + timedelta(days=1), "12-23", "01-15", "lunar"):
            end += timedelta(days=1)
        assert (end - start).days + 1 in (22, 23), year
        assert end == LunarDate(year, 1, 15).to_solar_date(), year
