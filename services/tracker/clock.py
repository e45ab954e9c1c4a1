"""One stage's clock: when it started, its due date, pauses, extensions and status at an instant.

The due-date rule (docs/domain.md §8), in this order:
1. The day the clock starts is not counted: a 15-day stage starting on 6 May (local date) ends on
   21 May. Extensions add their days to the limit (60 + 30 = 90). Working-day stages count working
   days instead.
2. Paused time is added: each started day of pause (ceil of the total paused duration in days)
   moves the last day by one calendar day.
3. If that last day is a holiday or rest day, it moves to the next working day (official calendar,
   swapped working days count as working days).
4. The deadline is the end of that day, 23:59:59.999999 local time.
Hours stages (urgent_report) run on the clock: started_at + hours + paused, no day rounding and no
holiday rule.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from typing import Literal, get_args
from zoneinfo import ZoneInfo

from services.tracker.policy import DeadlinePolicy, PolicyError, Stage, StagePolicy
from services.tracker.stages import WINDOWS

Status = Literal["pending", "open", "due_soon", "overdue", "met", "late", "paused"]
STATUSES: tuple[Status, ...] = get_args(Status)

# Petitioner-side windows: their lapse is not a breach by anyone, it concludes the stage.
WINDOW_STAGES: frozenset[str] = frozenset(WINDOWS)

_DAY = timedelta(days=1)


class ClockError(ValueError):
    """An operation the clock's rules do not allow (extension beyond the bound, double pause...)."""


@dataclass(frozen=True)
class DueDate:
    due_date: date  # the last day, local
    due_at: datetime  # the instant of breach: end of due_date local for day stages
    moved_from: date | None = None  # the last day before the holiday rule moved it, if it did


def end_of_day(day: date, tz: ZoneInfo) -> datetime:
    return datetime.combine(day, time.max, tzinfo=tz)


def due_for(
    stage: str,
    started_at: datetime,
    policy: DeadlinePolicy,
    *,
    extra_days: int = 0,
    paused: timedelta = timedelta(0),
    hours: int | None = None,
    days: int | None = None,
) -> DueDate:
    """The due date of `stage` started at `started_at` under `policy`.

    `days`/`hours` override the policy's limit (required for `limit_from` stages: assignment.due_days,
    report_within_hours); `extra_days` are granted extension days; `paused` the total paused time.
    """
    sp = policy.stage(stage)
    if started_at.tzinfo is None:
        raise ValueError("started_at must carry a UTC offset")
    if extra_days < 0:
        raise ValueError("extra_days must be >= 0")
    if paused < timedelta(0):
        raise ValueError("paused must be >= 0")
    if extra_days > sp.max_extension_days:
        raise ClockError(f"{stage}: {extra_days} extension days exceed the policy's maximum of {sp.max_extension_days}")
    tz = policy.timezone
    if sp.unit == "hours":
        if days is not None:
            raise ValueError(f"{stage} is counted in hours; pass hours=, not days=")
        limit_hours = _limit(sp, hours)
        due_at = (started_at + timedelta(hours=limit_hours) + paused).astimezone(tz)
        return DueDate(due_at.date(), due_at)

    if hours is not None:
        raise ValueError(f"{stage} is counted in days; pass days=, not hours=")
    total = _limit(sp, days) + extra_days
    start_day = started_at.astimezone(tz).date()
    if sp.calendar == "working_days":
        last = policy.calendar.add_working_days(start_day, total)
    else:
        last = start_day + timedelta(days=total)
    if paused > timedelta(0):
        last += timedelta(days=-(-paused // _DAY))
    moved = policy.calendar.roll_forward(last)
    return DueDate(moved, end_of_day(moved, tz), moved_from=last if moved != last else None)


def _limit(sp: StagePolicy, override: int | None) -> int:
    if override is not None:
        if override < 1:
            raise ValueError(f"{sp.stage}: the limit must be >= 1")
        return override
    if sp.limit is None:
        raise PolicyError(f"{sp.stage}: the policy takes the limit from {sp.limit_from}, which was not given")
    return sp.limit


@dataclass(frozen=True)
class Pause:
    started_at: datetime
    reason: str
    ended_at: datetime | None = None

    def duration(self, at: datetime) -> timedelta:
        end = at if self.ended_at is None else min(self.ended_at, at)
        return max(end - self.started_at, timedelta(0))


@dataclass(frozen=True)
class Extension:
    days: int
    reason: str
    approved_by: str
    at: datetime


@dataclass(frozen=True)
class Clock:
    """A running (or finished) stage clock. Immutable: every operation returns a new clock."""

    stage: Stage
    started_at: datetime
    policy: DeadlinePolicy
    limit: int | None = None  # the case's own limit for limit_from stages (days or hours)
    pauses: tuple[Pause, ...] = ()
    extensions: tuple[Extension, ...] = ()
    completed_at: datetime | None = None

    @classmethod
    def start(cls, stage: Stage, started_at: datetime, policy: DeadlinePolicy, limit: int | None = None) -> Clock:
        sp = policy.stage(stage)
        if started_at.tzinfo is None:
            raise ValueError("started_at must carry a UTC offset")
        if limit is None and sp.limit is None:
            raise PolicyError(f"{stage}: the policy takes the limit from {sp.limit_from}, which was not given")
        return cls(stage, started_at, policy, limit)

    @property
    def settings(self) -> StagePolicy:
        return self.policy.stage(self.stage)

    @property
    def policy_version(self) -> str:
        return self.policy.version

    @property
    def is_window(self) -> bool:
        return self.stage in WINDOW_STAGES

    @property
    def breach_window(self) -> timedelta:
        """The time between two escalation levels (the policy counts it in the stage's unit)."""
        sp = self.settings
        window = sp.escalation.breach_window
        return timedelta(hours=window) if sp.unit == "hours" else timedelta(days=window)

    @property
    def extension_days(self) -> int:
        return sum(e.days for e in self.extensions)

    def is_paused(self, at: datetime) -> bool:
        return any(p.started_at <= at and (p.ended_at is None or p.ended_at > at) for p in self.pauses)

    def paused_total(self, at: datetime) -> timedelta:
        return sum((p.duration(at) for p in self.pauses if p.started_at <= at), timedelta(0))

    # --- operations ------------------------------------------------------------------------------

    def pause(self, at: datetime, reason: str) -> Clock:
        self._check_running(at, "pause")
        if self.pauses and self.pauses[-1].ended_at is None:
            raise ClockError(f"{self.stage}: already paused since {self.pauses[-1].started_at.isoformat()}")
        return replace(self, pauses=(*self.pauses, Pause(at, reason)))

    def resume(self, at: datetime) -> Clock:
        self._check_running(at, "resume")
        if not self.pauses or self.pauses[-1].ended_at is not None:
            raise ClockError(f"{self.stage}: not paused")
        last = self.pauses[-1]
        if at < last.started_at:
            raise ClockError(f"{self.stage}: resumed before the pause started")
        return replace(self, pauses=(*self.pauses[:-1], replace(last, ended_at=at)))

    def extend(self, days: int, reason: str, approved_by: str, at: datetime) -> Clock:
        self._check_running(at, "extend")
        sp = self.settings
        if not reason.strip():
            raise ClockError(f"{self.stage}: an extension needs a reason")
        if not approved_by.strip():
            raise ClockError(f"{self.stage}: an extension needs an approver (approved_by)")
        if days < 1:
            raise ClockError(f"{self.stage}: an extension adds at least 1 day")
        if sp.max_extension_days == 0:
            raise ClockError(f"{self.stage}: this stage cannot be extended under policy {self.policy.name!r}")
        if len(self.extensions) >= sp.max_extensions:
            raise ClockError(
                f"{self.stage}: at most {sp.max_extensions} extension(s) allowed; "
                f"{len(self.extensions)} already granted"
            )
        if self.extension_days + days > sp.max_extension_days:
            raise ClockError(
                f"{self.stage}: extending by {days} days would exceed the maximum of "
                f"{sp.max_extension_days} (already {self.extension_days})"
            )
        return replace(self, extensions=(*self.extensions, Extension(days, reason, approved_by, at)))

    def complete(self, at: datetime) -> Clock:
        if self.completed_at is not None:
            raise ClockError(f"{self.stage}: already completed at {self.completed_at.isoformat()}")
        if at < self.started_at:
            raise ClockError(f"{self.stage}: completed before it started")
        pauses = self.pauses
        if pauses and pauses[-1].ended_at is None:
            # Completing the stage ends a pause nobody resumed.
            pauses = (*pauses[:-1], replace(pauses[-1], ended_at=at))
        return replace(self, completed_at=at, pauses=pauses)

    def _check_running(self, at: datetime, what: str) -> None:
        if self.completed_at is not None:
            raise ClockError(f"{self.stage}: cannot {what} a completed stage")
        if at < self.started_at:
            raise ClockError(f"{self.stage}: cannot {what} before the stage started")

    # --- questions --------------------------------------------------------------------------------

    def due(self, at: datetime | None = None) -> DueDate:
        """The due date as of `at` (an open pause counts up to `at`; needed only while paused)."""
        if at is None:
            if self.pauses and self.pauses[-1].ended_at is None:
                raise ClockError(f"{self.stage}: paused; the due date depends on `at`")
            at = self.completed_at or self.started_at
            paused = sum((p.duration(p.ended_at or at) for p in self.pauses), timedelta(0))
        else:
            paused = self.paused_total(at)
        sp = self.settings
        hours = self.limit if sp.unit == "hours" else None
        days = self.limit if sp.unit == "days" else None
        return due_for(
            self.stage,
            self.started_at,
            self.policy,
            extra_days=self.extension_days,
            paused=paused,
            hours=hours,
            days=days,
        )

    def warning_from(self, due: DueDate) -> datetime | None:
        """When `due_soon` begins: the start of the last `warning` counted days (hours stages: hours)."""
        sp = self.settings
        if sp.warning == 0:
            return None
        if sp.unit == "hours":
            return due.due_at - timedelta(hours=sp.warning)
        if sp.calendar == "working_days":
            first = self.policy.calendar.sub_working_days(due.due_date, sp.warning - 1)
        else:
            first = due.due_date - timedelta(days=sp.warning - 1)
        return datetime.combine(first, time.min, tzinfo=self.policy.timezone)

    def completed_as_of(self, at: datetime) -> datetime | None:
        """When the stage ended, as known at `at`; a lapsed petitioner window ends at its due."""
        if self.completed_at is not None and self.completed_at <= at:
            return self.completed_at
        if self.is_window:
            due_at = self.due(at).due_at
            if at > due_at:
                return due_at
        return None

    def status(self, at: datetime) -> Status:
        """See STATUS_RULES in the module docstring of services.tracker.timeline."""
        if at < self.started_at:
            return "pending"
        done = self.completed_as_of(at)
        if done is not None:
            return "met" if done <= self.due(done).due_at else "late"
        if self.is_paused(at):
            return "paused"
        due = self.due(at)
        if at > due.due_at:
            return "overdue"
        start_warning = self.warning_from(due)
        if start_warning is not None and at >= start_warning:
            return "due_soon"
        return "open"

    def escalation_level(self, at: datetime) -> int:
        """0 before the breach; 1 at the breach (supervising unit); +1 per further breach window.

        Frozen at completion; never more than the policy's ladder; petitioner windows never escalate.
        """
        if self.is_window or at < self.started_at:
            return 0
        until = at if self.completed_at is None else min(at, self.completed_at)
        due_at = self.due(until).due_at
        if until <= due_at:
            return 0
        return min(self.settings.escalation.levels, 1 + (until - due_at) // self.breach_window)
