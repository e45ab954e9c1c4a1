"""Hot reload of the rule files the running tracker reads: deadline policies and the organisation directory.

The tracker watches rules/ (watchfiles, as the router does) and reads again
- `deadlines.yaml` (services.tracker.policy.load_policies): clocks that start from then on run under
  the new policies; running clocks keep theirs (`xf deadlines reapply` moves them, on purpose);
- the organisation directory (`directory.yaml` with `deployment.yaml`, read by
  services.common.rules_files as at start): supervising units for the escalations raised from then on.
A source is read again only when its files differ from the ones in force, so an edit elsewhere in
rules/ (a routing table) reloads nothing here. A file that does not load is refused: the log says
why (`file:line: problem`), `xf_tracker_rule_reloads_total{file, outcome="refused"}` counts it, and
the last good version stays in force; it is tried again at the next change under rules/.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path

from services.common.rules_files import read_rules_files
from services.common.runtime import on_changes
from services.tracker import metrics, units
from services.tracker.policy import RULES_FILE, DeadlinePolicies, load_policies
from services.tracker.records import PolicyResolver

log = logging.getLogger("xf.tracker.reload")
DEADLINES = "deadlines"
DIRECTORY = "directory"
# The files each source is read from.
FILES: dict[str, tuple[str, ...]] = {DEADLINES: (RULES_FILE,), DIRECTORY: ("directory.yaml", "deployment.yaml")}

OnPolicies = Callable[[DeadlinePolicies], Awaitable[None]]


def fingerprint(rules_dir: Path, source: str) -> str:
    """The content of a source's files (a missing file counts as such)."""
    digest = hashlib.sha256()
    for name in FILES[source]:
        try:
            content = (rules_dir / name).read_bytes()
        except OSError:
            content = b"\0missing"
        digest.update(name.encode() + b"\0" + content + b"\0")
    return digest.hexdigest()


def read_directory(rules_dir: Path) -> units.Supervisor:
    """The organisation directory's supervising units, read by the services' one reader of rules/.
    Raises RuleError (`file:line: problem` lines) or OSError."""
    return read_rules_files(rules_dir).directory.supervisor


def load_policies_at_start(rules_dir: Path) -> tuple[DeadlinePolicies, str]:
    """The deadline policies (a file that does not load stops the start: PolicyError) and the
    fingerprint of the file they were read from."""
    stamp = fingerprint(rules_dir, DEADLINES)
    return load_policies(rules_dir), stamp


def use_directory_at_start(rules_dir: Path) -> str | None:
    """Supervising units from the directory; if it does not load, the default rule of DOMAIN.md §4.1
    and the log says so. Returns the fingerprint of the directory in force (None: the default rule)."""
    stamp = fingerprint(rules_dir, DIRECTORY)
    try:
        supervisor = read_directory(rules_dir)
    except Exception as error:
        log.warning("organisation directory not loaded (%s): supervising units follow DOMAIN.md §4.1", error)
        units.use_directory(None)
        return None
    units.use_directory(supervisor)
    return stamp


class RuleReloader:
    """Keeps the tracker's policies (through its PolicyResolver) and directory in step with rules/."""

    def __init__(
        self,
        rules_dir: Path,
        resolver: PolicyResolver,
        *,
        deadlines_stamp: str,
        directory_stamp: str | None,
        on_policies: OnPolicies | None = None,
    ) -> None:
        """`resolver` holds the policies read at start; the stamps are the fingerprints of the files
        in force (`load_policies_at_start`, `use_directory_at_start`)."""
        self.rules_dir = rules_dir
        self.resolver = resolver
        self.on_policies = on_policies
        self._in_force: dict[str, str | None] = {DEADLINES: deadlines_stamp, DIRECTORY: directory_stamp}
        self._lock = asyncio.Lock()
        metrics.DEADLINE_POLICIES.info({"version": resolver.policies.version})

    async def reload(self) -> dict[str, str]:
        """Read again each source whose files changed: its outcome (applied, unchanged, refused)."""
        async with self._lock:
            outcomes: dict[str, str] = {}
            for source, load in ((DEADLINES, self._deadlines), (DIRECTORY, self._directory)):
                stamp = fingerprint(self.rules_dir, source)
                if stamp == self._in_force[source]:
                    continue
                try:
                    outcome = await load()
                except Exception as error:  # PolicyError / RuleError (file:line problems), unreadable files
                    log.error("refused the edited %s, keeping the last good version:\n%s", _what(source), error)
                    outcome = "refused"
                else:
                    self._in_force[source] = stamp
                metrics.RULE_RELOADS.labels(source, outcome).inc()
                outcomes[source] = outcome
            return outcomes

    async def _deadlines(self) -> str:
        policies = await asyncio.to_thread(load_policies, self.rules_dir)
        current = self.resolver.policies
        if policies.version == current.version:
            log.info("deadline policies unchanged (file version %s)", current.version)
            return "unchanged"
        self.resolver.use(policies)
        metrics.DEADLINE_POLICIES.info({"version": policies.version})
        log.info(
            "deadline policies reloaded from %s (file version %s, was %s); new clocks start under them",
            policies.path,
            policies.version,
            current.version,
        )
        if self.on_policies is not None:
            try:
                await self.on_policies(policies)
            except Exception:  # the policies are in force all the same
                log.exception("deadline policies %s: follow-up failed", policies.version)
        return "applied"

    async def _directory(self) -> str:
        supervisor = await asyncio.to_thread(read_directory, self.rules_dir)
        units.use_directory(supervisor)
        log.info("organisation directory reloaded: supervising units for escalations from now on")
        return "applied"

    async def watch(self) -> None:
        """Reload on every change under rules/, forever (services/common/runtime.py `on_changes`)."""
        await on_changes(self.rules_dir, self.reload, log)


def _what(source: str) -> str:
    return "deadline policies" if source == DEADLINES else "organisation directory"
