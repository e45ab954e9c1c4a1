"""Hot reload of rules/deadlines.yaml and the organisation directory (services.tracker.reload), on a copy
of the shipped rules."""

from __future__ import annotations

import asyncio
import logging
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client import REGISTRY
from tracker_helpers import RULES, line_of

from services.tracker import units
from services.tracker.records import PolicyResolver
from services.tracker.reload import RuleReloader, load_policies_at_start, use_directory_at_start

HANDLE = "handle: {limit: 60"
UNIT = "150627:petition"


@pytest.fixture
def rules(tmp_path: Path) -> Iterator[Path]:
    copy = tmp_path / "rules"
    shutil.copytree(RULES, copy)
    yield copy
    units.use_directory(None)


def started(rules: Path) -> RuleReloader:
    policies, stamp = load_policies_at_start(rules)
    return RuleReloader(
        rules, PolicyResolver(policies), deadlines_stamp=stamp, directory_stamp=use_directory_at_start(rules)
    )


def reloads(file: str, outcome: str) -> float:
    value = REGISTRY.get_sample_value("xf_tracker_rule_reloads_total", {"file": file, "outcome": outcome})
    assert value is not None, "the series exist from the start"
    return value


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, old
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


async def test_new_policies_for_new_clocks_and_a_broken_file_refused(
    rules: Path, caplog: pytest.LogCaptureFixture
) -> None:
    reloader = started(rules)
    resolver = reloader.resolver
    first = resolver.policies
    assert await reloader.reload() == {}  # nothing changed

    edit(rules / "deadlines.yaml", HANDLE, "handle: {limit: 45")
    applied = reloads("deadlines", "applied")
    assert await reloader.reload() == {"deadlines": "applied"}
    assert reloads("deadlines", "applied") == applied + 1
    assert resolver.named("standard").stage("handle").limit == 45
    assert resolver.policies.version != first.version
    version = REGISTRY.get_sample_value("xf_tracker_deadline_policies_info", {"version": resolver.policies.version})
    assert version == 1.0
    # A running clock's old version is still found (by its stored snapshot, as in store.known_policies).
    old = first.get("standard")
    assert resolver.register(old.snapshot()).stage("handle").limit == 60

    good = resolver.policies
    edit(rules / "deadlines.yaml", "handle: {limit: 45", "handle: {limit: -3")
    refused = reloads("deadlines", "refused")
    with caplog.at_level(logging.ERROR, logger="xf.tracker.reload"):
        assert await reloader.reload() == {"deadlines": "refused"}
    assert reloads("deadlines", "refused") == refused + 1
    assert resolver.policies is good  # the last good version keeps running
    where = f"{rules / 'deadlines.yaml'}:{line_of(rules / 'deadlines.yaml', 'handle: {limit: -3')}"
    assert f"{where}: policies.standard.handle.limit" in caplog.text

    # A comment is no new version; the file is in force again.
    edit(rules / "deadlines.yaml", "handle: {limit: -3", "handle: {limit: 45")
    edit(rules / "deadlines.yaml", "timezone: Asia/Shanghai", "timezone: Asia/Shanghai  # unchanged")
    assert await reloader.reload() == {"deadlines": "unchanged"}
    assert resolver.policies is good


async def test_a_table_edit_reloads_nothing_here(rules: Path) -> None:
    reloader = started(rules)
    table = sorted((rules / "tables").glob("*.yaml"))[0]
    table.write_text(table.read_text(encoding="utf-8") + "\n# edited\n", encoding="utf-8")
    assert await reloader.reload() == {}


async def test_the_directory_is_reloaded_and_a_broken_one_refused(
    rules: Path, caplog: pytest.LogCaptureFixture
) -> None:
    reloader = started(rules)
    assert units.supervisor(UNIT) == "150600:petition"  # the default: one level up
    directory = rules / "directory.yaml"
    edit(directory, "unit_supervisors: {}", f'unit_supervisors: {{"{UNIT}": "150000:petition"}}')
    assert await reloader.reload() == {"directory": "applied"}
    assert units.supervisor(UNIT) == "150000:petition"
    assert units.escalation_target(UNIT, 1) == "150000:petition"  # the escalation chain is rebuilt

    edit(directory, "supervision:\n", "supervision:\n  - level: nowhere\n")
    refused = reloads("directory", "refused")
    with caplog.at_level(logging.ERROR, logger="xf.tracker.reload"):
        assert await reloader.reload() == {"directory": "refused"}
    assert reloads("directory", "refused") == refused + 1
    assert units.supervisor(UNIT) == "150000:petition"  # the last good directory keeps running
    assert f"directory.yaml:{line_of(directory, 'level: nowhere')}:" in caplog.text
    # Still broken: tried again (and refused again) at the next change under rules/.
    assert await reloader.reload() == {"directory": "refused"}

    edit(directory, "  - level: nowhere\n", "")
    assert await reloader.reload() == {}  # back to the version in force: nothing to do
    edit(directory, "150000:petition", "150600:gov")
    assert await reloader.reload() == {"directory": "applied"}
    assert units.supervisor(UNIT) == "150600:gov"


async def test_a_directory_that_did_not_load_at_start_follows_the_default_until_fixed(rules: Path) -> None:
    directory = rules / "directory.yaml"
    edit(directory, "supervision:\n", "supervision:\n  - level: nowhere\n")
    edit(directory, "unit_supervisors: {}", f'unit_supervisors: {{"{UNIT}": "150000:petition"}}')
    reloader = started(rules)
    assert units.supervisor(UNIT) == "150600:petition"
    edit(directory, "  - level: nowhere\n", "")
    assert await reloader.reload() == {"directory": "applied"}
    assert units.supervisor(UNIT) == "150000:petition"


async def test_the_watch_reloads_on_an_edit(rules: Path) -> None:
    reloader = started(rules)
    watch = asyncio.create_task(reloader.watch())
    try:
        await asyncio.sleep(0.5)  # the watch is set up
        edit(rules / "deadlines.yaml", HANDLE, "handle: {limit: 50")
        for _ in range(100):
            if reloader.resolver.named("standard").stage("handle").limit == 50:
                break
            await asyncio.sleep(0.1)
        assert reloader.resolver.named("standard").stage("handle").limit == 50
    finally:
        watch.cancel()
        with pytest.raises(asyncio.CancelledError):
            await watch
