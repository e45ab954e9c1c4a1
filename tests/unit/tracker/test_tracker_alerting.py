"""Alert thresholds, what a scan raises for a claimed clock, and supervising units."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
from tracker_helpers import SHANGHAI, local

from services.common.envelope import deterministic_id
from services.tracker import alerting, units
from services.tracker.alerting import TICK, crossed, next_alert_at, schedule
from services.tracker.scanner import plan

DUE = local("2026-05-21 23:59:59.999999")
WARN = local("2026-05-19 00:00")
DAYS15 = timedelta(days=15)


def ladder(levels: int = 2, warn: object = WARN) -> tuple[alerting.Threshold, ...]:
    return schedule(is_window=False, warn_at=warn, due_at=DUE, levels=levels, breach_window=DAYS15)  # type: ignore[arg-type]


def test_the_ladder() -> None:
    thresholds = ladder()
    assert [(t.index, t.kind, t.level, t.at) for t in thresholds] == [
        (1, "warning", 0, WARN),
        (2, "overdue", 0, DUE + TICK),
        (3, "escalated", 1, DUE + TICK),
        (4, "escalated", 2, DUE + DAYS15),
    ]
    assert [t.kind for t in ladder(levels=0)] == ["warning", "overdue"]
    assert [t.kind for t in ladder(warn=DUE)] == ["overdue", "escalated", "escalated"]  # warning lead 0


def test_a_window_only_lapses() -> None:
    (lapse,) = schedule(is_window=True, warn_at=WARN, due_at=DUE, levels=2, breach_window=DAYS15)
    assert (lapse.kind, lapse.at) == ("lapsed", DUE + TICK)


@pytest.mark.parametrize(
    ("level", "now", "raised", "next_at"),
    [
        (0, local("2026-05-18 23:00"), [], WARN),
        (0, local("2026-05-19 00:00"), ["warning"], DUE + TICK),
        (1, local("2026-05-21 23:59"), [], DUE + TICK),
        (1, local("2026-05-22 00:00"), ["overdue", "escalated1"], DUE + DAYS15),
        (0, local("2026-05-22 00:00"), ["overdue", "escalated1"], DUE + DAYS15),  # late: no warning any more
        (0, local("2026-07-01 00:00"), ["overdue", "escalated1", "escalated2"], None),
        (3, local("2026-06-06 00:00"), ["escalated2"], None),
        (4, local("2027-01-01 00:00"), [], None),
    ],
)
def test_what_a_scan_raises(level: int, now: Any, raised: list[str], next_at: Any) -> None:
    thresholds = ladder()
    got = crossed(thresholds, level, now)
    assert [t.kind + (str(t.level) if t.kind == "escalated" else "") for t in got] == raised
    new_level = max([t.index for t in got], default=level)
    assert next_alert_at(thresholds, new_level) == next_at


def row(**overrides: Any) -> dict[str, Any]:
    base = {
        "case_id": "C-1",
        "stage": "handle",
        "generation": 1,
        "unit": "150627:hrss",
        "started_at": local("2026-03-22 09:00"),
        "due_date": date(2026, 5, 21),
        "due_at": DUE,
        "warn_at": WARN,
        "alert_level": 0,
        "escalation_levels": 2,
        "breach_window": DAYS15,
        "policy": "standard",
        "policy_version": "sha256:p",
    }
    return {**base, **overrides}


def test_a_scan_plan_addresses_each_alert_and_moves_the_clock_on() -> None:
    now = local("2026-06-10 12:00")
    result = plan([row()], now, SHANGHAI)
    assert [(a.kind, a.escalation_level, a.unit) for a in result.alerts] == [
        ("overdue", 0, "150627:hrss"),
        ("escalated", 1, "150600:hrss"),
        ("escalated", 2, "150000:hrss"),
    ]
    assert all(a.responsible_unit == "150627:hrss" and a.due_date == "2026-05-21" for a in result.alerts)
    (advance,) = result.advances
    assert (advance.alert_level, advance.next_alert_at) == (4, None)
    ids = {a.alert_id for a in result.alerts}
    again = plan([row()], now, SHANGHAI)
    assert {a.alert_id for a in again.alerts} == ids  # deterministic: a re-sent alert keeps its id
    moved = plan([row(due_at=DUE + timedelta(days=1))], now, SHANGHAI)
    assert not ids & {a.alert_id for a in moved.alerts}  # another due date: other alerts
    regenerated = plan([row(generation=2)], now, SHANGHAI)
    assert not ids & {a.alert_id for a in regenerated.alerts}


def test_a_lapsed_window_concludes_the_case() -> None:
    result = plan([row(stage="review_window", unit=None)], local("2026-05-22 08:00"), SHANGHAI)
    assert result.alerts == []
    (conclusion,) = result.conclusions
    assert (conclusion.type, conclusion.at, conclusion.actor) == ("concluded", DUE, "tracker")
    ids = ("C-1", "review_window", "1", DUE.isoformat(), "1")
    assert conclusion.event_id == deterministic_id("tracker-window-lapse", *ids)
    assert result.advances[0].next_alert_at is None


def test_a_clock_without_a_unit_moves_on_silently() -> None:
    result = plan([row(unit=None)], local("2026-05-20 00:00"), SHANGHAI)
    assert result.alerts == [] and result.advances[0].alert_level == 1


@pytest.mark.parametrize(
    ("unit", "chain"),
    [
        ("150627:hrss", ["150627:hrss", "150600:hrss", "150000:hrss", "000000:hrss"]),
        ("150627107:gov", ["150627107:gov", "150627:gov", "150600:gov", "150000:gov", "000000:gov"]),
        ("150627107001:committee", ["150627107001:committee", "150627107:gov", "150627:gov", "150600:gov"]),
        ("110101:housing", ["110101:housing", "110000:housing", "000000:housing"]),  # a municipality's district
        ("000000:petition", ["000000:petition"]),
    ],
)
def test_supervising_units(unit: str, chain: list[str]) -> None:
    assert list(units.chain(unit))[: len(chain)] == chain


def test_escalation_targets_and_metric_labels() -> None:
    assert units.escalation_target("150627:hrss", 0) == "150627:hrss"
    assert units.escalation_target("150627:hrss", 2) == "150000:hrss"
    assert units.escalation_target("000000:hrss", 2) == "000000:hrss"
    assert units.county_rollup("150627107:gov") == "150627:gov"
    assert units.county_rollup("150627107001:committee") == "150627:committee"
    assert units.county_rollup("150600:hrss") == "150600:hrss"
    assert units.county_rollup(None) == "none"


def test_supervising_units_from_the_organisation_directory() -> None:
    directory = {"150627107:committee": "150627107:gov", "150627:sasac": "150600:sasac"}
    units.use_directory(directory.get)
    try:
        assert units.chain("150627107:committee")[:3] == ("150627107:committee", "150627107:gov", "150627:gov")
        assert units.escalation_target("150627:sasac", 1) == "150600:sasac"
        # Units the directory does not know keep the default rule.
        assert units.supervisor("150627107001:committee") == "150627107:gov"
    finally:
        units.use_directory(None)
    assert units.supervisor("150627107:committee") == "150627:committee"  # the default rule again


def test_the_shipped_directory_is_used_by_the_service() -> None:
    from services.common.settings import Settings
    from services.tracker.reload import use_directory_at_start

    try:
        use_directory_at_start(Settings().rules_dir)  # as TrackerService does at start
        assert units.supervisor("150627107:committee") == "150627107:gov"  # rules/directory.yaml: `at: here`
    finally:
        units.use_directory(None)
