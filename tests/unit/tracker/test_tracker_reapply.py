"""`xf deadlines reapply`: the plan for one running clock (services.tracker.reapply), without a database."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from engine_sim import CASE, CaseSim, at, ev, received, routed
from tracker_helpers import DATA, RULES, line_of, xf

from services.tracker import alerting, cli
from services.tracker.clock import Clock
from services.tracker.deadlines import DeadlinePolicies, parse_policies
from services.tracker.reapply import Change, describe, plan_clock, raised_levels
from services.tracker.records import PolicyResolver

SHIPPED = (RULES / "deadlines.yaml").read_text(encoding="utf-8")
EXT = {"reason": "needs a site visit", "approved_by": "150627:gov"}


def edited(*replacements: tuple[str, str]) -> DeadlinePolicies:
    text = SHIPPED
    for old, new in replacements:
        assert old in text, old
        text = text.replace(old, new)
    return parse_policies(text, Path("edited-deadlines.yaml"))


SHORTER_HANDLE = ("handle: {limit: 60", "handle: {limit: 45")


def accepted_case(policies: DeadlinePolicies) -> CaseSim:
    return CaseSim(PolicyResolver(policies)).run(received(), routed(), ev("accepted", "2026-05-08 09:00"))


def row(sim: CaseSim, stage: str, **changes: Any) -> dict[str, Any]:
    return {**sim.clock(stage), "case_id": CASE, **changes}


def plan(
    sim: CaseSim, stage: str, new: DeadlinePolicies, *, now: str = "2026-05-20 12:00", **row_changes: Any
) -> Change:
    raised: dict[datetime, int] = row_changes.pop("raised", {})
    return plan_clock(row(sim, stage, **row_changes), sim.resolver, new, now=at(now), raised=raised)


def test_a_shortened_stage_moves_the_due_date_as_a_new_clock_would_get_it(policies: DeadlinePolicies) -> None:
    sim = accepted_case(policies)
    new = edited(SHORTER_HANDLE)
    old_version = sim.clock("handle")["policy_version"]
    change = plan(sim, "handle", new)
    assert change.skipped is None and change.write is not None
    assert (str(change.old_due_date), str(change.new_due_date)) == ("2026-07-07", "2026-06-22")  # 60 → 45 days
    assert change.old_version == old_version
    assert change.new_version == new.get("standard").version != old_version
    # The same code as a clock started under the new policy.
    fresh = Clock.start("handle", at("2026-05-08 09:00"), new.get("standard")).due()
    assert change.new_due_at == fresh.due_at
    write = change.write
    assert (write.generation, write.unit, write.started_at) == (1, "150627:hrss", at("2026-05-08 09:00"))
    assert write.next_alert_at == at("2026-06-20 00:00")  # the new date's 3-day warning lead


def test_unchanged_clocks_policies_and_other_stages_keep_their_due(policies: DeadlinePolicies) -> None:
    sim = accepted_case(policies)
    new = edited(SHORTER_HANDLE)
    route = plan(sim, "route", new)  # completed clocks are never selected; the plan would not move it anyway
    assert route.write is not None and route.new_due_date == route.old_due_date


def test_a_due_date_that_does_not_move_keeps_its_alert_level(policies: DeadlinePolicies) -> None:
    sim = accepted_case(policies)
    new = edited(
        ("handle: {limit: 60, max_extension_days: 30", "handle: {limit: 60, warning: 5, max_extension_days: 30")
    )
    # Not warned yet: the next alert is the new, longer warning lead.
    change = plan(sim, "handle", new)
    assert change.write is not None and change.new_due_date == change.old_due_date
    assert (change.write.alert_level, change.write.next_alert_at) == (0, at("2026-07-03 00:00"))
    # Warned already under the old lead: not warned again, the next alert is the breach.
    change = plan(sim, "handle", new, alert_level=alerting.WARNING)
    assert change.write is not None
    assert change.write.alert_level == alerting.WARNING
    assert change.write.next_alert_at == change.write.due_at + alerting.TICK


def test_a_moved_due_date_starts_the_new_dates_ladder(policies: DeadlinePolicies) -> None:
    sim = accepted_case(policies)
    overdue_and_escalated = alerting.OVERDUE + 2
    change = plan(sim, "handle", edited(SHORTER_HANDLE), alert_level=overdue_and_escalated)
    assert change.write is not None
    assert (change.old_alert_level, change.write.alert_level) == (overdue_and_escalated, 0)
    assert change.write.next_alert_at == change.write.warn_at


def test_a_due_date_moved_back_keeps_what_was_raised_for_it(policies: DeadlinePolicies) -> None:
    sim = accepted_case(policies)
    shorter = edited(SHORTER_HANDLE)
    first = plan(sim, "handle", shorter)
    assert first.write is not None
    # Under the 45-day version it was warned and marked overdue; then the 60-day policy comes back.
    moved = {
        **row(sim, "handle"),
        "policy_version": first.write.policy_version,
        "due_date": first.write.due_date,
        "due_at": first.write.due_at,
        "alert_level": alerting.OVERDUE,
        "policy_snapshot": first.write.policy_snapshot,
    }
    original_due = sim.clock("handle")["due_at"]
    raised = {original_due: alerting.OVERDUE + 1, first.write.due_at: alerting.OVERDUE}
    back = plan_clock(moved, PolicyResolver(shorter), policies, now=at("2026-07-09 12:00"), raised=raised)
    assert back.write is not None and back.write.due_at == original_due
    assert back.write.alert_level == alerting.OVERDUE + 1  # escalated once already for that very due
    assert back.write.next_alert_at == original_due + timedelta(days=15)  # only the second escalation is left


def test_a_paused_clock_moves_and_stays_paused(policies: DeadlinePolicies) -> None:
    sim = accepted_case(policies).run(ev("paused", "2026-05-10 09:00", reason="hearing"))
    handle = sim.clock("handle")
    assert handle["paused_since"] == at("2026-05-10 09:00") and handle["next_alert_at"] is None
    change = plan(sim, "handle", edited(SHORTER_HANDLE))
    assert change.paused and change.write is not None
    assert change.write.paused_since == at("2026-05-10 09:00")
    assert change.write.next_alert_at is None  # paused clocks raise nothing
    assert str(change.new_due_date) == "2026-06-22"  # as of the pause, as always (0 days paused yet)
    assert change.write.pauses == handle["pauses"]


def test_extensions_are_kept_and_bounded_by_the_new_policy(policies: DeadlinePolicies) -> None:
    sim = accepted_case(policies).run(ev("extended", "2026-06-20 09:00", days=20, **EXT))
    assert sim.due("handle") == "2026-07-27"
    change = plan(sim, "handle", edited(SHORTER_HANDLE))
    assert change.write is not None and str(change.new_due_date) == "2026-07-13"  # 45 + 20 days (11 July a Saturday)
    tighter = edited(SHORTER_HANDLE, ("max_extension_days: 30", "max_extension_days: 10"))
    refused = plan(sim, "handle", tighter)
    assert refused.write is None
    assert refused.skipped is not None and "exceed the policy's maximum of 10" in refused.skipped


def test_policies_and_stages_the_file_no_longer_has_are_skipped(policies: DeadlinePolicies) -> None:
    sim = CaseSim(PolicyResolver(policies)).run(received(assignment_days=10), routed(policy="assignment"))
    renamed = edited(
        ("  assignment:\n    extends: standard", "  assigned:\n    extends: standard"),
        ("extends: assignment", "extends: assigned"),
    )
    change = plan(sim, "assignment_report", renamed)
    assert change.write is None and change.skipped == "the rule file no longer defines policy 'assignment'"
    no_report = edited(("    assignment_report: {limit_from: assignment.due_days, warning: 5}\n", ""))
    change = plan(sim, "assignment_report", no_report)
    assert change.write is None and change.skipped == "policy 'assignment' no longer has the stage assignment_report"


def test_a_petitioners_window_is_not_closed_behind_their_back(policies: DeadlinePolicies) -> None:
    sim = accepted_case(policies).run(ev("replied", "2026-06-01 09:00"))
    assert sim.due("review_window") == "2026-07-01"
    shorter = edited(("review_window: {limit: 30}", "review_window: {limit: 10}"))
    lapsed = plan(sim, "review_window", shorter, now="2026-06-15 12:00")
    assert lapsed.write is None and lapsed.skipped == "the petitioner's window would have lapsed already (2026-06-11)"
    still_open = plan(sim, "review_window", shorter, now="2026-06-05 12:00")
    assert still_open.write is not None and str(still_open.new_due_date) == "2026-06-11"


def test_limits_taken_from_the_case_are_kept(policies: DeadlinePolicies) -> None:
    sim = CaseSim(PolicyResolver(policies)).run(received(assignment_days=10), routed(policy="assignment"))
    assert sim.due("assignment_report") == "2026-05-18"
    change = plan(
        sim,
        "assignment_report",
        edited(
            (
                "assignment_report: {limit_from: assignment.due_days, warning: 5}",
                "assignment_report: {limit_from: assignment.due_days, warning: 2}",
            )
        ),
    )
    assert change.write is not None
    assert (str(change.new_due_date), change.write.limit_value) == ("2026-05-18", 10)
    assert change.write.warn_at == at("2026-05-17 00:00")


def test_raised_levels_take_the_highest_threshold_per_due() -> None:
    due_a, due_b = at("2026-06-22 23:59"), at("2026-07-07 23:59")
    rows = [
        {"case_id": "C", "stage": "handle", "generation": 1, "due_at": due_a, "kind": "warning", "escalation_level": 0},
        {
            "case_id": "C",
            "stage": "handle",
            "generation": 1,
            "due_at": due_a,
            "kind": "escalated",
            "escalation_level": 2,
        },
        {"case_id": "C", "stage": "handle", "generation": 1, "due_at": due_a, "kind": "overdue", "escalation_level": 0},
        {"case_id": "C", "stage": "handle", "generation": 1, "due_at": due_b, "kind": "warning", "escalation_level": 0},
        {"case_id": "C", "stage": "handle", "generation": 2, "due_at": due_b, "kind": "overdue", "escalation_level": 0},
    ]
    assert raised_levels(rows) == {
        ("C", "handle", 1): {due_a: alerting.OVERDUE + 2, due_b: alerting.WARNING},
        ("C", "handle", 2): {due_b: alerting.OVERDUE},
    }


@pytest.mark.parametrize(
    ("kind", "level", "index"),
    [("warning", 0, 1), ("lapsed", 0, 1), ("overdue", 0, 2), ("escalated", 1, 3), ("escalated", 2, 4)],
)
def test_threshold_index_matches_the_schedule(kind: str, level: int, index: int) -> None:
    assert alerting.threshold_index(kind, level) == index
    due = at("2026-06-22 23:59")
    thresholds = alerting.schedule(
        is_window=kind == "lapsed",
        warn_at=at("2026-06-20 00:00"),
        due_at=due,
        levels=2,
        breach_window=timedelta(days=15),
    )
    assert any(t.index == index and t.kind == kind and t.level == level for t in thresholds)


def test_describe_shows_versions_and_due_dates(policies: DeadlinePolicies) -> None:
    sim = accepted_case(policies)
    change = plan(sim, "handle", edited(SHORTER_HANDLE), alert_level=1)
    line = describe(change, at("2026-06-25 12:00"))
    assert line.startswith(f"{CASE}  handle")
    assert change.new_version is not None
    assert f"{change.old_version[:15]} → {change.new_version[:15]}" in line
    assert "due 2026-07-07 → 2026-06-22" in line
    assert "overdue now" in line and "alert level 1 → 0" in line
    skipped = plan(
        sim,
        "handle",
        edited(SHORTER_HANDLE, ("max_extension_days: 30", "max_extension_days: 3")),
        extensions=[{"days": 5, **EXT, "at": "2026-06-01T09:00:00+08:00"}],
    )
    assert describe(skipped, at("2026-06-25 12:00")).endswith(
        "due 2026-07-07  skipped: handle: 5 extension days exceed the policy's maximum of 3"
    )


# --- the command line (what it refuses before it touches the database) ----------------------------------


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["reapply"], "--reason: say why"),
        (["reapply", "--reason", "  "], "--reason: say why"),
        (["reapply", "--dry-run", "--policy", "nosuch"], "--policy: unknown deadline policy 'nosuch'"),
        (["reapply", "--dry-run", "--at", "2026-05-06T00:00"], "--at: reapply works on the clocks as they are now"),
        (["reapply", "--dry-run", "--batch", "0"], "--batch: at least 1"),
        ([str(DATA / "standard_full.json"), "--stage", "handle"], "--stage: only with `xf deadlines reapply`"),
        ([str(DATA / "standard_full.json"), "--dry-run", "--case", "C"], "--case, --dry-run: only with"),
    ],
)
def test_the_command_refuses_bad_input(argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert xf("deadlines", *argv) == cli.EXIT_BAD_INPUT
    assert message in capsys.readouterr().err


def test_the_command_refuses_a_broken_rule_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "deadlines.yaml").write_text(SHIPPED.replace("handle: {limit: 60", "handle: {limit: -1"))
    assert xf("deadlines", "reapply", "--dry-run", "--rules", str(tmp_path)) == cli.EXIT_BAD_INPUT
    line = line_of(RULES / "deadlines.yaml", "handle: {limit: 60")
    assert f"{tmp_path / 'deadlines.yaml'}:{line}: policies.standard.handle.limit" in capsys.readouterr().err


def test_a_timeline_file_named_reapply_is_still_a_timeline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "reapply").write_text((DATA / "standard_full.json").read_text(encoding="utf-8"))
    monkeypatch.chdir(tmp_path)
    assert xf("deadlines", "./reapply", "--at", "2026-10-14T12:00:00+08:00", "--rules", str(RULES)) == cli.EXIT_OK
