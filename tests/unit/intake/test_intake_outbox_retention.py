"""The outbox retention's pure parts: the policy read from settings, the batch loop, what the operator
command prints, and that the new metrics carry no labels."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from services.cli import build_parser
from services.common.settings import Settings
from services.intake import cli
from services.intake.outbox_retention import (
    OLDEST_PUBLISHED_AGE,
    PUBLISHED_KEPT,
    PURGED,
    RETENTION,
    OutboxStatus,
    Retention,
    describe,
    drain,
    duration,
)


def test_the_policy_comes_from_the_settings_seven_days_by_default() -> None:
    defaults = Retention.from_settings(Settings.model_construct())
    assert defaults == Retention(seconds=7 * 86400.0, interval=300.0, batch=1000)
    custom = Retention.from_settings(
        Settings(intake_outbox_retention_hours=1.5, intake_outbox_purge_interval=60, intake_outbox_purge_batch=10)
    )
    assert custom == Retention(seconds=5400.0, interval=60.0, batch=10)


@pytest.mark.parametrize(
    "field", ["intake_outbox_retention_hours", "intake_outbox_purge_interval", "intake_outbox_purge_batch"]
)
@pytest.mark.parametrize("value", [0, -1])
def test_a_retention_interval_or_batch_of_zero_or_less_is_refused(field: str, value: int) -> None:
    with pytest.raises(ValidationError, match=field):
        Settings(**{field: value})


def test_settings_are_read_from_xf_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XF_INTAKE_OUTBOX_RETENTION_HOURS", "24")
    monkeypatch.setenv("XF_INTAKE_OUTBOX_PURGE_BATCH", "200")
    assert Retention.from_settings(Settings()) == Retention(seconds=86400.0, interval=300.0, batch=200)


async def test_drain_repeats_full_batches_and_stops_after_a_short_one() -> None:
    results = iter([50, 50, 20, 50])
    calls = 0

    async def batch() -> int:
        nonlocal calls
        calls += 1
        return next(results)

    assert await drain(batch, 50) == 120
    assert calls == 3  # the fourth full batch is never asked for


async def test_drain_stops_at_once_when_nothing_is_due() -> None:
    calls = 0

    async def batch() -> int:
        nonlocal calls
        calls += 1
        return 0

    assert await drain(batch, 1000) == 0
    assert calls == 1


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [
        (0, "0s"),
        (0.7, "0s"),
        (45, "45s"),
        (725, "12m 5s"),
        (3 * 3600 + 20 * 60 + 9, "3h 20m"),
        (7 * 86400, "7d"),
        (86400 + 30, "1d"),
        (6 * 86400 + 23 * 3600 + 58 * 60, "6d 23h"),
        (99 * 3600, "4d 3h"),
    ],
)
def test_durations_read_as_the_two_largest_units(seconds: float, shown: str) -> None:
    assert duration(seconds) == shown


def test_the_status_names_every_figure() -> None:
    week = Retention(seconds=7 * 86400.0, interval=300.0, batch=1000)
    lines = describe(
        OutboxStatus(
            pending=3, oldest_pending_age=12.0, published=1500, oldest_published_age=8 * 86400.0, past_retention=40
        ),
        week,
    )
    assert lines == [
        "pending:    3, oldest written 12s ago",
        "published:  1500, oldest published 8d ago, 40 past the retention",
        "retention:  7d after publication; purged every 5m in batches of 1000",
    ]


def test_an_empty_outbox_shows_no_ages() -> None:
    lines = describe(OutboxStatus(0, None, 0, None, 0), Retention(seconds=3600.0, interval=60.0, batch=10))
    assert lines[0] == "pending:    0"
    assert lines[1] == "published:  0, 0 past the retention"


def test_xf_intake_outbox_parses_with_and_without_purge() -> None:
    parser = build_parser()
    status = parser.parse_args(["intake", "outbox"])
    assert status.func is cli.outbox and not status.purge and not status.json
    purge = parser.parse_args(["intake", "outbox", "--purge", "--json"])
    assert purge.func is cli.outbox and purge.purge and purge.json


def test_the_retention_metrics_follow_the_outbox_names_and_have_no_labels() -> None:
    for metric in (PURGED, PUBLISHED_KEPT, OLDEST_PUBLISHED_AGE, RETENTION):
        assert metric._name.startswith("xf_intake_outbox_")
        assert metric._labelnames == ()
