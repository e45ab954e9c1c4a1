"""rules/deadlines.yaml: the shipped policies, inheritance, hashing and file:line errors."""

from __future__ import annotations

from pathlib import Path

import pytest
from tracker_helpers import RULES, d, policies_from

from services.tracker.deadlines import DeadlinePolicies, PolicyError, load_policies, parse_policies


def test_shipped_standard_policy_has_the_national_defaults(policies: DeadlinePolicies) -> None:
    standard = policies.get("standard")
    limits = {name: sp.limit for name, sp in standard.stages.items()}
    assert limits == {
        "route": 15,
        "accept": 15,
        "handle": 60,
        "review_window": 30,
        "review": 30,
        "rereview_window": 30,
        "rereview": 30,
    }
    handle = standard.stage("handle")
    assert (handle.max_extension_days, handle.max_extensions) == (30, 1)
    assert all(sp.calendar == "calendar_days" and sp.warning == 3 for sp in standard.stages.values())
    assert standard.stage("route").max_extension_days == 0
    assert str(policies.timezone) == "Asia/Shanghai"


def test_assignment_and_urgent_policies(policies: DeadlinePolicies) -> None:
    assignment = policies.get("assignment")
    report = assignment.stage("assignment_report")
    assert (report.limit, report.limit_from, report.unit, report.warning) == (
        None,
        "assignment.due_days",
        "days",
        5,
    )
    assert assignment.stage("handle").limit == 60  # inherited from standard
    urgent = policies.get("urgent").stage("urgent_report")
    assert (urgent.unit, urgent.limit_from, urgent.warning) == ("hours", "report_within_hours", 2)
    assert policies.get("urgent").has("assignment_report")
    assert not policies.get("standard").has("urgent_report")


def test_fallback_calendar_is_loaded(policies: DeadlinePolicies) -> None:
    assert policies.calendar.fallback[2027].holidays >= {d("2027-01-01"), d("2027-05-01"), d("2027-10-03")}


def test_unknown_policy_and_stage_are_clear_errors(policies: DeadlinePolicies) -> None:
    with pytest.raises(PolicyError, match=r"unknown deadline policy 'nope'.*standard"):
        policies.get("nope")
    with pytest.raises(PolicyError, match="'standard' has no settings for stage 'urgent_report'"):
        policies.get("standard").stage("urgent_report")


def test_versions_are_content_hashes(policies: DeadlinePolicies) -> None:
    again = load_policies(RULES)
    assert again.version == policies.version
    assert again.get("standard").version == policies.get("standard").version
    assert policies.get("standard").version != policies.get("assignment").version
    assert policies.version.startswith("sha256:")
    text = (RULES / "deadlines.yaml").read_text(encoding="utf-8")
    changed = parse_policies(text.replace("handle: {limit: 60", "handle: {limit: 61"), Path("x.yaml"))
    assert changed.get("standard").version != policies.get("standard").version
    assert changed.version != policies.version
    # A comment does not change any version.
    commented = parse_policies(text + "\n# a comment\n", Path("x.yaml"))
    assert commented.version == policies.version


def test_snapshot_round_trip(policies: DeadlinePolicies) -> None:
    policy = policies.get("assignment")
    restored = policies.from_snapshot(policy.snapshot())
    assert restored.version == policy.version
    assert restored.stages == policy.stages
    tampered = policy.snapshot()
    tampered["stages"]["handle"]["limit"] = 10
    with pytest.raises(PolicyError, match="does not match"):
        policies.from_snapshot(tampered)


def test_load_accepts_a_file_path_too() -> None:
    assert load_policies(RULES / "deadlines.yaml").names == ("standard", "assignment", "urgent")


def test_working_days_and_extends_merge_field_by_field() -> None:
    pols = policies_from(
        "  base:\n"
        "    handle: {limit: 60, max_extension_days: 30}\n"
        "  fast:\n"
        "    extends: base\n"
        "    handle: {calendar: working_days, warning: 5, escalation: {levels: 3}}\n"
    )
    handle = pols.get("fast").stage("handle")
    assert (handle.limit, handle.calendar, handle.warning, handle.max_extension_days) == (
        60,
        "working_days",
        5,
        30,
    )
    assert (handle.escalation.levels, handle.escalation.breach_window) == (3, 15)


@pytest.mark.parametrize(
    ("body", "line", "message"),
    [
        ("  p:\n    handle: {limit: 60}\n    hande: {limit: 5}\n", 11, "policies.p.hande: Extra inputs"),
        ("  p:\n    handle: {limit: sixty}\n", 10, "policies.p.handle.limit: Input should be a valid integer"),
        ("  p:\n    handle: {limit: 0}\n", 10, "greater than or equal to 1"),
        ("  p:\n    handle: {calendar: lunar, limit: 3}\n", 10, "policies.p.handle.calendar"),
        ("  p:\n    handle: {warning: 2}\n", 10, "policies.p.handle: needs `limit` or `limit_from`"),
        ("  p:\n    extends: q\n    route: {limit: 1}\n", 10, "policies.p.extends: unknown policy 'q'"),
        ("  p:\n    extends: q\n  q:\n    extends: p\n", 9, "`extends` cycle: p -> q -> p"),
        ("  p:\n    route: {limit: 1}\n    route: {limit: 2}\n", 11, "duplicate key 'route'"),
        ("  p:\n    route: {limit: 1\n", 11, "invalid YAML"),
        ("  p:\n    urgent_report: {limit_from: report_within_hours}\n", 10, "needs unit: hours"),
        ("  p:\n    route: {unit: hours, limit: 4, calendar: working_days}\n", 10, "runs on the clock"),
        ("  p:\n    handle: {limit: 60, max_extensions: 1}\n", 10, "max_extensions without"),
        ("  p: {}\n", 9, "defines no stage"),
    ],
)
def test_errors_name_file_and_line(body: str, line: int, message: str) -> None:
    with pytest.raises(PolicyError) as info:
        policies_from(body)
    text = str(info.value)
    assert text.startswith(f"test-deadlines.yaml:{line}: "), text
    assert message in text


def test_top_level_errors_name_the_line() -> None:
    with pytest.raises(PolicyError, match=r"^x.yaml:1: .*policies"):
        parse_policies("\n".join(_base_lines()[:3]), Path("x.yaml"))
    with pytest.raises(PolicyError, match=r"^x.yaml:1: unknown timezone 'Mars/Olympus'"):
        parse_policies("timezone: Mars/Olympus\n" + "\n".join(_base_lines()), Path("x.yaml"))
    with pytest.raises(
        PolicyError, match=r"^x.yaml:6: fallback_calendar.2027.holidays.0: Input should be a valid date"
    ):
        policies_from_fallback("    holidays: [not-a-date]\n")
    with pytest.raises(PolicyError, match=r"2026-01-01 is not in 2027"):
        policies_from_fallback("    holidays: [2026-01-01]\n")
    with pytest.raises(PolicyError, match=r"cannot read"):
        load_policies(Path("/nonexistent/rules"))


def _base_lines() -> list[str]:
    return [
        "defaults:",
        "  days: {warning: 3, escalation: {levels: 1, breach_window: 2}}",
        "  hours: {warning: 1, escalation: {levels: 1, breach_window: 2}}",
        "policies:",
        "  p: {route: {limit: 1}}",
    ]


def policies_from_fallback(year_body: str) -> DeadlinePolicies:
    text = "\n".join(_base_lines()[:3]) + "\nfallback_calendar:\n  2027:\n" + year_body + "\n".join(_base_lines()[3:])
    return parse_policies(text, Path("x.yaml"))
