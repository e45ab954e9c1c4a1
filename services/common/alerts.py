"""`case.alert` event bodies: deadline warnings, overdue alerts and 督办 escalations (docs/domain.md §8).

The tracker raises at most one alert per stage clock, threshold and due date:
- `warning`: the clock entered its warning lead ("3 days left"); to the responsible unit.
- `overdue`: the deadline passed; to the responsible unit.
- `escalated`: the deadline passed (level 1) or a further breach window passed (level 2, ...); to
  the unit `escalation_level` steps above the responsible unit (its supervising unit first).
`alert_id` is derived from the clock, its due date and the threshold, so a re-sent alert carries
the same id and consumers can drop it.
"""

from __future__ import annotations

from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from services.common.schemas import UnitId

ALERT_TYPE = "case.alert"
AlertKind = Literal["warning", "overdue", "escalated"]
AlertStage = Literal[
    "route",
    "accept",
    "handle",
    "review",
    "rereview",
    "assignment_report",
    "urgent_report",
]


class CaseAlert(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    alert_id: str = Field(min_length=1, max_length=200)
    case_id: str = Field(min_length=1, max_length=64)
    kind: AlertKind
    stage: AlertStage
    escalation_level: int = Field(ge=0, le=6)  # 0 for warning and overdue
    unit: UnitId  # who is alerted
    responsible_unit: UnitId  # who must act on the stage
    started_at: AwareDatetime
    due_date: str = Field(pattern=r"^\d{4}-\d{2}-\d{2}$")  # the last day, deployment-local
    due_at: AwareDatetime
    threshold_at: AwareDatetime  # when the threshold was crossed
    raised_at: AwareDatetime  # when the tracker noticed and raised it
    policy: str
    policy_version: str
