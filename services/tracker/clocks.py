"""Plans the clock rows the tracker stores, from the deadline policies in the rule files."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import cast

from services.tracker.clock import Clock
from services.tracker.policy import DeadlinePolicies, Stage, load_policies
from services.tracker.store import ClockPlan


@dataclass(frozen=True)
class PolicyClockPlanner:
    policies: DeadlinePolicies

    @classmethod
    def from_rules(cls, rules_dir: Path) -> PolicyClockPlanner:
        return cls(load_policies(rules_dir))

    def plan(
        self, stage: str, started_at: datetime, policy: str, *, days: int | None = None, hours: int | None = None
    ) -> ClockPlan:
        clock = Clock.start(cast(Stage, stage), started_at, self.policies.get(policy), limit=days or hours)
        due = clock.due()
        return ClockPlan(
            stage=stage,
            policy=policy,
            policy_version=clock.policy_version,
            started_at=started_at,
            due_date=due.due_date,
            due_at=due.due_at,
            warn_at=clock.warning_from(due) or due.due_at,
        )
