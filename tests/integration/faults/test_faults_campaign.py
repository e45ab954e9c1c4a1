"""The fault campaign's short version (`bench/faults.py --short`) on a stack of its own: 300 cases over HTTP
and `case.submitted`, the units' lifecycle events, one `kill -9` of each service (the tracker's while its
scanner raises alerts), a Kafka and a PostgreSQL restart, one poison record of each kind on every input
topic and one of each forgery. Each test asserts one figure of the campaign's tally, counted from the
stack's tables and topics; the whole report is printed with any failure.

The campaign's stack is its own (ports of XF_TEST_PORT_OFFSET + 70): it kills and poisons what it runs,
so it never touches the session's stack.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from services.common.settings import PROJECT_ROOT
from services.faults import forgeries, poison
from services.faults.campaign import SHORT, Campaign, campaign_settings, run_campaign, start_stack, stop_stack
from services.faults.report import render
from services.faults.tally import Tally

OFFSET = int(os.environ.get("XF_TEST_PORT_OFFSET", "0")) + 70


@dataclass(frozen=True)
class Outcome:
    campaign: Campaign
    tally: Tally
    report: str


@pytest.fixture(scope="module")
def campaign() -> Iterator[Outcome]:
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)  # the broker restart is expected
    settings = campaign_settings(OFFSET, PROJECT_ROOT / f".stack-test{OFFSET}-faults")
    start_stack(settings, print)
    try:
        ran, tally, settled = run_campaign(settings, SHORT, print)
    finally:
        stop_stack(settings)
    yield Outcome(ran, tally, render(ran, tally, settled))


def figure(outcome: Outcome, name: str) -> int:
    return outcome.tally.value(name)


def test_every_disruption_happened(campaign: Outcome) -> None:
    done = [d.what for d in campaign.campaign.journal.done]
    tracker_kill = next(d for d in campaign.campaign.journal.done if d.what == "kill -9 tracker")
    assert tracker_kill.note.startswith("scanner had just raised"), campaign.report
    for what in ("kill -9 intake", "kill -9 router", "kill -9 tracker", "restart kafka", "restart postgres"):
        assert what in done, campaign.report
    assert all(p.delivery.delivered or "refused" in str(p.delivery.error) for p in campaign.tally.poison)
    kinds = len(poison.INPUT_TOPICS) * len(poison.KINDS)
    assert len(campaign.tally.poison) == kinds and len(campaign.tally.forgeries) == len(forgeries.KINDS), (
        campaign.report
    )


def test_every_case_sent_is_accepted(campaign: Outcome) -> None:
    assert figure(campaign, "accepted") == figure(campaign, "sent") == SHORT.cases, campaign.report


def test_nothing_is_lost(campaign: Outcome) -> None:
    assert figure(campaign, "lost cases") == 0, campaign.report
    assert figure(campaign, "lost events") == 0, campaign.report
    assert figure(campaign, "alerts lost") == 0, campaign.report


def test_nothing_is_duplicated(campaign: Outcome) -> None:
    assert figure(campaign, "duplicated") == 0, campaign.report


def test_no_forged_event_is_applied(campaign: Outcome) -> None:
    assert figure(campaign, "forged applied") == 0, campaign.report


def test_no_alert_is_raised_twice(campaign: Outcome) -> None:
    assert figure(campaign, "alerts raised") > 0, campaign.report  # the scanner had work while it was killed
    assert figure(campaign, "duplicate alerts") == 0, campaign.report


def test_poison_stops_no_consumer(campaign: Outcome) -> None:
    assert figure(campaign, "stuck consumers") == 0, campaign.report
    stuck = [p.poison.name for p in campaign.tally.poison if p.stuck_at]
    assert stuck == [], campaign.report
