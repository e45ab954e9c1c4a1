"""One fault campaign on a stack of its own: load, disruptions, poison and forgeries at once, a bounded
settle, then the tally (services.faults.tally).

    tally, journal = run_campaign(settings, SHORT, log=print)   # the stack must be up

Disruptions are spread over the load phase in a seeded order; the first poison round comes early, so
that every later case shows whether the consumers survived it, and forgeries come once cases are routed.
A tracker kill waits (bounded) until the scanner is raising alerts, so that it lands inside a scan.
"""

from __future__ import annotations

import asyncio
import random
import shutil
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg

from services import stack
from services.common.settings import Settings
from services.faults import disruptions, forgeries, poison
from services.faults.disruptions import Journal
from services.faults.forgeries import Target
from services.faults.load import Load
from services.faults.partners import UNSCOPED_REGION, UPSTREAM_SOURCE, Partner, Partners, register_all
from services.faults.principals import Principal, nobody, service
from services.faults.send import Delivery, produce_once
from services.faults.tally import Evidence, Tally, tally
from services.faults.topics_read import CONSUMED, group_lags
from services.stack.offsets import offset_settings

Log = Callable[[str], None]
PARTS = ("kafka", "postgres", "intake", "router", "tracker")


@dataclass(frozen=True)
class Plan:
    cases: int = 3000
    load_seconds: float = 150.0
    kills: int = 3  # kill -9 of each service
    restarts: int = 1  # restarts of Kafka, and of PostgreSQL
    poison_rounds: int = 2  # each round: every kind of poison on every input topic
    forgery_targets: int = 5  # real cases per forgery kind
    settle_seconds: float = 240.0
    seed: int = 11
    kafka_share: float = 0.2  # of the cases, submitted on case.submitted
    concurrency: int = 8


SHORT = Plan(cases=300, load_seconds=30.0, kills=1, restarts=1, poison_rounds=1, forgery_targets=1, settle_seconds=45.0)


def campaign_settings(offset: int, stack_dir: Path) -> Settings:
    """A stack on ports moved by `offset`, whose tracker scans often and in small rounds (so kills land in one)."""
    base = offset_settings(offset, stack_dir)
    return base.model_copy(update={"tracker_scan_interval": 0.5, "tracker_scan_batch": 40})


def start_stack(settings: Settings, log: Log) -> None:
    """A fresh stack: whatever an earlier run left is stopped and wiped, so every count is this run's."""
    stack.down(settings, PARTS, report=lambda line: None)
    shutil.rmtree(settings.stack_dir, ignore_errors=True)
    stack.up(settings, PARTS, report=lambda line: log(f"[faults]   {line}"))


def stop_stack(settings: Settings) -> None:
    stack.down(settings, PARTS, report=lambda line: None)


@dataclass(frozen=True)
class Principals:
    """Who publishes what: the services' principal (reads the topics, plays a buggy service), the partners,
    and a producer with no credentials at all."""

    service: Principal
    nobody: Principal
    partners: Partners

    def of(self, sender: str) -> Partner | None:
        """The partner behind a forgery's sender (None: no credentials)."""
        found = {
            "unit": self.partners.units,
            "unscoped_unit": self.partners.unscoped,
            "upstream": self.partners.upstream,
        }
        return found.get(sender)

    def principal_of(self, sender: str) -> Principal:
        partner = self.of(sender)
        return partner.principal if partner is not None else self.nobody

    def listed(self) -> list[Principal]:
        p = self.partners
        return [self.service, p.upstream.principal, p.units.principal, p.unscoped.principal, self.nobody]


def principals_of(settings: Settings) -> Principals:
    return Principals(service=service(settings), nobody=nobody(settings), partners=register_all(settings))


def schedule(plan: Plan) -> list[tuple[str, str]]:
    """(action, part or round) in the order they happen: the first poison round first, the forgeries once
    a third of the disruptions are done (cases are routed by then), the rest in a seeded order."""
    rng = random.Random(plan.seed)
    actions = [("kill", part) for part in disruptions.SERVICES for _ in range(plan.kills)]
    actions += [("restart", part) for part in disruptions.INFRA for _ in range(plan.restarts)]
    actions += [("poison", str(n)) for n in range(1, plan.poison_rounds)]
    rng.shuffle(actions)
    middle = max(1, len(actions) // 3)
    return [("poison", "0"), *actions[:middle], ("forge", "all"), *actions[middle:]]


class Campaign:
    def __init__(self, settings: Settings, plan: Plan, log: Log) -> None:
        self.settings = settings
        self.plan = plan
        self.log = log
        self.run = f"faults{uuid.uuid4().hex[:8]}"
        self.journal = Journal()
        self.principals = principals_of(settings)
        self.evidence: Evidence | None = None
        self.load = Load(
            settings,
            cases=plan.cases,
            seconds=plan.load_seconds,
            seed=plan.seed,
            run=self.run,
            upstream=self.principals.partners.upstream,
            units=self.principals.partners.units,
            upstream_source=UPSTREAM_SOURCE,
            kafka_share=plan.kafka_share,
            concurrency=plan.concurrency,
            log=log,
        )
        self.targeted: set[str] = set()
        self.load_units_done = False

    async def disrupt(self, evidence: Evidence) -> None:
        actions = schedule(self.plan)
        step = self.plan.load_seconds * 0.9 / len(actions)
        for index, (action, what) in enumerate(actions):
            await asyncio.sleep(max(0.0, self.journal.started + 2.0 + index * step - time.monotonic()))
            self.log(f"[faults] {self.journal.now():6.1f}s  {action} {what}")
            if action == "kill":
                note = ""
                if what == "tracker":
                    raised = await disruptions.when_scanner_busy(self.settings, timeout=15.0)
                    note = f"scanner had just raised {raised} alert(s)" if raised else "scanner idle (waited 15 s)"
                await disruptions.kill9(self.settings, what, self.journal, note)
            elif action == "restart":
                await disruptions.restart(self.settings, what, self.journal)
            elif action == "poison":
                evidence.poison += await self.publish_poison(int(what))
            else:
                evidence.forged += await self.publish_forgeries()
            await disruptions.revive(self.settings, PARTS, self.journal, self.log)

    async def publish_poison(self, round_: int) -> list[tuple[poison.Poison, Delivery]]:
        """A buggy partner's records on the partner topics (signed, so that they reach the parser), a buggy
        service's on the services' topics."""
        partners = {
            "case.submitted": self.principals.partners.upstream,
            "case.lifecycle": self.principals.partners.units,
        }
        done = []
        for item in poison.poison_records(self.run, UPSTREAM_SOURCE, round_):
            partner = partners.get(item.topic)
            record = item.record
            if partner is not None:
                record = replace(record, headers=partner.headers(item.case_id, record.value))
            principal = partner.principal if partner is not None else self.principals.service
            (delivery,) = await produce_once(principal, [record])
            done.append((replace(item, record=record), delivery))
        return done

    async def publish_forgeries(self) -> list[tuple[forgeries.Forged, Delivery]]:
        needed = self.plan.forgery_targets * sum(1 for k in forgeries.KINDS if k.topic != "case.submitted")
        targets = await self.targets(needed, wait=self.plan.load_seconds / 2)
        done = []
        now = datetime.now(UTC)
        for kind in forgeries.KINDS:
            for _ in range(self.plan.forgery_targets):
                target = targets.pop() if kind.topic != "case.submitted" and targets else None
                if kind.topic != "case.submitted" and target is None:
                    self.log(f"[faults] no routed case left to aim {kind.name} at")
                    continue
                item = forgeries.forge(kind, target, now, UPSTREAM_SOURCE)
                sender = self.principals.of(kind.sender)
                signed = sender is not None and forgeries.signed_by_unscoped(kind)
                headers = sender.headers(item.event_id, item.record.value, signed=signed) if sender else ()
                record = replace(item.record, headers=headers)
                (delivery,) = await produce_once(self.principals.principal_of(kind.sender), [record])
                done.append((replace(item, record=record), delivery))
        return done

    async def targets(self, count: int, wait: float) -> list[Target]:
        """Open cases of this run, routed for handling, none aimed at before (waits for enough, bounded)."""
        deadline = time.monotonic() + wait
        rows: list[Any] = []
        while time.monotonic() < deadline:
            try:
                conn = await asyncpg.connect(self.settings.dsn, timeout=5)
                try:
                    rows = await conn.fetch(
                        """SELECT t.case_id, t.handling_unit, t.received_at, t.channel, t.people_count, t.category,
                                  t.region
                           FROM tracker.cases t JOIN intake.cases i USING (case_id)
                           WHERE i.idempotency_key LIKE $1 AND t.routed_at IS NOT NULL AND NOT t.closed
                             AND t.disposition IN ('forward', 'assign') AND t.handling_unit IS NOT NULL
                             AND t.handling_unit NOT LIKE $3
                             AND NOT (t.case_id = ANY($2))
                           ORDER BY t.case_id""",
                        f"%{self.run}%",
                        list(self.targeted),
                        f"{UNSCOPED_REGION[:4]}%",  # outside the unscoped partner's scope
                    )
                finally:
                    await conn.close()
            except (TimeoutError, OSError, asyncpg.PostgresError):
                rows = []
            if len(rows) >= count:
                break
            await asyncio.sleep(1.0)
        chosen = random.Random(self.plan.seed).sample(rows, min(count, len(rows)))
        self.targeted.update(r["case_id"] for r in chosen)
        return [Target(**dict(r)) for r in chosen]

    async def settle(self, stop_units: asyncio.Event) -> str:
        """Wait (bounded) until every accepted case is routed and known to intake, the outbox is empty, the
        units' events are all out and handled or held, and no consumer group lags on an input topic."""
        deadline = time.monotonic() + self.plan.settle_seconds
        shown = 0.0
        state = ""
        while time.monotonic() < deadline:
            state, routed_all, events_done = await self.progress()
            if routed_all:
                stop_units.set()
            if routed_all and events_done and self.load_units_done:
                lags = await group_lags(self.principals.service, CONSUMED)
                behind = [f"{g.group} on {g.topic} {g.lag} behind" for g in lags if g.lag]
                if not behind:
                    return f"settled after {self.journal.now():.0f}s: {state}"
                state += "; " + ", ".join(behind)
            if time.monotonic() - shown > 5:
                self.log(f"[faults] {self.journal.now():6.1f}s  settling: {state}")
                shown = time.monotonic()
            await asyncio.sleep(1.0)
        stop_units.set()
        return f"NOT settled within {self.plan.settle_seconds:.0f}s: {state}"

    async def progress(self) -> tuple[str, bool, bool]:
        try:
            conn = await asyncpg.connect(self.settings.dsn, timeout=5)
        except (TimeoutError, OSError, asyncpg.PostgresError):
            return "PostgreSQL unreachable", False, False
        try:
            row = await conn.fetchrow(
                """SELECT count(*) AS accepted,
                          count(t.routed_at) AS routed,
                          count(r.case_id) AS intake_routed,
                          (SELECT count(*) FROM intake.outbox WHERE published_at IS NULL) AS outbox,
                          (SELECT count(*) FROM tracker.applied_events a WHERE a.event_id = ANY($2))
                        + (SELECT count(*) FROM tracker.parked_events p WHERE p.event_id = ANY($2)) AS handled
                   FROM intake.cases i
                   LEFT JOIN tracker.cases t USING (case_id)
                   LEFT JOIN intake.routings r USING (case_id)
                   WHERE i.idempotency_key LIKE $1""",
                f"%{self.run}%",
                list(self.load.sent.lifecycle),
            )
        except (OSError, asyncpg.PostgresError):
            return "PostgreSQL unreachable", False, False
        finally:
            await conn.close()
        assert row is not None
        state = (
            f"{row['accepted']} accepted, {row['routed']} routed in the tracker, {row['intake_routed']} in intake, "
            f"outbox {row['outbox']} waiting, units' events handled {row['handled']}/{len(self.load.sent.lifecycle)}"
        )
        done = row["routed"] == row["accepted"] == row["intake_routed"] and row["outbox"] == 0
        submitted = self.load.submitted.is_set()
        return state, done and submitted and row["accepted"] > 0, row["handled"] >= len(self.load.sent.lifecycle)

    async def execute(self) -> tuple[Tally, str]:
        evidence = Evidence(self.run, self.load.sent)
        self.evidence = evidence
        horizon = time.monotonic() + self.plan.load_seconds * 3 + self.plan.settle_seconds + 120
        stop_units = asyncio.Event()

        async def units() -> None:
            await self.load.play_units(stop_units, horizon)
            self.load_units_done = True

        self.journal.started = time.monotonic()  # the campaign's clock starts with the load
        units_task = asyncio.create_task(units())
        await asyncio.gather(self.load.submit(horizon), self.disrupt(evidence))
        self.log(f"[faults] {self.journal.now():6.1f}s  load and disruptions done; settling")
        settled = await self.settle(stop_units)
        await asyncio.wait_for(units_task, 60)
        self.log(f"[faults] {settled}")
        return await tally(self.settings.dsn, self.principals.service, evidence), settled


def run_campaign(settings: Settings, plan: Plan, log: Log = print) -> tuple[Campaign, Tally, str]:
    campaign = Campaign(settings, plan, log)
    result, settled = asyncio.run(campaign.execute())
    return campaign, result, settled
