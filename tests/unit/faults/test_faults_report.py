"""The campaign's report names every figure with how it was counted, fails on the ones that must be 0,
and groups the forgeries by what was observed."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

from services.faults import forgeries
from services.faults.campaign import SHORT
from services.faults.disruptions import Disruption, Journal
from services.faults.principals import Principal
from services.faults.report import render
from services.faults.send import Delivery
from services.faults.tally import ForgeryOutcome, Line, Tally

NOBODY = Principal("no credentials", {"bootstrap_servers": "127.0.0.1:1"})


def campaign() -> Any:
    journal = Journal()
    journal.done.append(Disruption("kill -9 tracker", 12.0, 3.5, "scanner had just raised 4 alert(s)"))
    partner = SimpleNamespace(name="faults-units", signs=True, principal=NOBODY)
    principals = SimpleNamespace(
        listed=lambda: [NOBODY],
        partners=SimpleNamespace(upstream=partner, units=partner),
        principal_of=lambda sender: NOBODY,
    )
    return SimpleNamespace(plan=SHORT, journal=journal, run="faults-test", principals=principals)


def forged(kind: forgeries.Kind, applied_by: tuple[str, ...]) -> ForgeryOutcome:
    target = forgeries.Target("XF150627-20261201-000001", "150627:hrss", datetime.now(UTC), "visit", 1,
                              "wage_arrears", "150627107")  # fmt: skip
    item = forgeries.forge(kind, target, datetime.now(UTC), "faults/upstream")
    return ForgeryOutcome(item, Delivery(item.record, 0, 7), on_topic=True, dead_lettered=0, applied_by=applied_by)


def test_the_report_fails_on_a_forgery_applied_and_groups_the_rows() -> None:
    kind = forgeries.KINDS[0]
    tally = Tally(
        lines=[
            Line("sent", 300, "submissions the campaign made"),
            Line("lost cases", 0, "not in intake.cases", must_be_zero=True),
            Line("forged applied", 2, "the tracker's applied_events", must_be_zero=True),
        ],
        forgeries=[forged(kind, ("tracker",)), forged(kind, ("tracker",)), forged(kind, ())],
    )
    text = render(campaign(), tally, "settled after 60s")
    assert "ok   lost cases" in text and "FAIL forged applied" in text
    assert text.endswith("RESULT: FAILED: forged applied 2")
    rows = [line for line in text.splitlines() if line.strip().startswith(kind.what)]
    assert len(rows) == 2  # two outcomes, one row each
    assert any("APPLIED by tracker" in row and row.rstrip().endswith("2") for row in rows)
    assert "kill -9 tracker" in text and "scanner had just raised 4 alert(s)" in text


def test_all_zero_is_said_so() -> None:
    tally = Tally(lines=[Line("lost cases", 0, "not in intake.cases", must_be_zero=True)])
    assert render(campaign(), tally, "settled").endswith("RESULT: all zero")
