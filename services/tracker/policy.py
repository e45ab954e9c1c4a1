"""rules/deadlines.yaml: named deadline policies, the fallback calendar and the deployment timezone.

Errors name the file and line. Each resolved policy has a content hash (`DeadlinePolicy.version`) so
a running clock can record the policy version it started with; `DeadlinePolicies.version` hashes the
whole resolved file (policies, timezone and fallback calendar).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from services.tracker.calendar import FallbackYear, WorkCalendar
from services.tracker.stages import STAGES as STAGES
from services.tracker.stages import Stage as Stage

CalendarKind = Literal["calendar_days", "working_days"]
Unit = Literal["days", "hours"]
LimitFrom = Literal["assignment.due_days", "report_within_hours"]

RULES_FILE = "deadlines.yaml"


class PolicyError(ValueError):
    """The rule file is malformed, or a policy or stage it does not define was asked for."""


# --- the file as written (validated with line numbers) ---------------------------------------------


class _Raw(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class _RawEscalation(_Raw):
    levels: int | None = Field(default=None, ge=0, le=6)
    breach_window: int | None = Field(default=None, ge=1)


class _RawStage(_Raw):
    limit: int | None = Field(default=None, ge=1, le=3650)
    limit_from: LimitFrom | None = None
    unit: Unit | None = None
    calendar: CalendarKind | None = None
    warning: int | None = Field(default=None, ge=0)
    max_extension_days: int | None = Field(default=None, ge=0, le=3650)
    max_extensions: int | None = Field(default=None, ge=0, le=10)
    escalation: _RawEscalation | None = None


class _RawPolicy(_Raw):
    extends: str | None = None
    description: str | None = None
    route: _RawStage | None = None
    accept: _RawStage | None = None
    handle: _RawStage | None = None
    review_window: _RawStage | None = None
    review: _RawStage | None = None
    rereview_window: _RawStage | None = None
    rereview: _RawStage | None = None
    assignment_report: _RawStage | None = None
    urgent_report: _RawStage | None = None


class _RawUnitDefaults(_Raw):
    calendar: CalendarKind | None = None
    warning: int = Field(ge=0)
    escalation: _RawEscalation


class _RawDefaults(_Raw):
    days: _RawUnitDefaults
    hours: _RawUnitDefaults


class _RawFallbackYear(_Raw):
    holidays: list[date] = []
    working_days: list[date] = []


class _RawFile(_Raw):
    timezone: str = "Asia/Shanghai"
    defaults: _RawDefaults
    fallback_calendar: dict[int, _RawFallbackYear] = {}
    policies: dict[str, _RawPolicy] = Field(min_length=1)


# --- resolved policies ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Escalation:
    levels: int
    breach_window: int  # in the stage's unit


@dataclass(frozen=True)
class StagePolicy:
    stage: Stage
    unit: Unit
    limit: int | None
    limit_from: LimitFrom | None
    calendar: CalendarKind
    warning: int
    max_extension_days: int
    max_extensions: int
    escalation: Escalation

    def as_dict(self) -> dict[str, Any]:
        return {
            "stage": self.stage,
            "unit": self.unit,
            "limit": self.limit,
            "limit_from": self.limit_from,
            "calendar": self.calendar,
            "warning": self.warning,
            "max_extension_days": self.max_extension_days,
            "max_extensions": self.max_extensions,
            "escalation": {"levels": self.escalation.levels, "breach_window": self.escalation.breach_window},
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> StagePolicy:
        esc = data["escalation"]
        return cls(
            stage=data["stage"],
            unit=data["unit"],
            limit=data["limit"],
            limit_from=data["limit_from"],
            calendar=data["calendar"],
            warning=data["warning"],
            max_extension_days=data["max_extension_days"],
            max_extensions=data["max_extensions"],
            escalation=Escalation(levels=esc["levels"], breach_window=esc["breach_window"]),
        )


@dataclass(frozen=True, eq=False)
class DeadlinePolicy:
    """One named schedule: per-stage settings, plus the calendar and timezone they are applied in."""

    name: str
    stages: Mapping[str, StagePolicy]
    calendar: WorkCalendar
    timezone: ZoneInfo
    version: str

    def has(self, stage: str) -> bool:
        return stage in self.stages

    def stage(self, stage: str) -> StagePolicy:
        try:
            return self.stages[stage]
        except KeyError:
            raise PolicyError(
                f"deadline policy {self.name!r} has no settings for stage {stage!r} "
                f"(it defines: {', '.join(self.stages)})"
            ) from None

    def snapshot(self) -> dict[str, Any]:
        """What a running clock stores to keep its policy across rule changes."""
        return {
            "name": self.name,
            "version": self.version,
            "stages": {name: sp.as_dict() for name, sp in self.stages.items()},
        }


@dataclass(frozen=True, eq=False)
class DeadlinePolicies:
    policies: Mapping[str, DeadlinePolicy]
    calendar: WorkCalendar
    timezone: ZoneInfo
    version: str
    path: Path | None = None
    names: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "names", tuple(self.policies))

    def get(self, name: str) -> DeadlinePolicy:
        try:
            return self.policies[name]
        except KeyError:
            raise PolicyError(f"unknown deadline policy {name!r} (known: {', '.join(self.policies)})") from None

    def from_snapshot(self, snapshot: Mapping[str, Any]) -> DeadlinePolicy:
        """Rebuild a running clock's policy from its stored snapshot, with today's calendar."""
        stages = {name: StagePolicy.from_dict(sp) for name, sp in snapshot["stages"].items()}
        version = _policy_hash(stages)
        if version != snapshot["version"]:
            raise PolicyError(f"policy snapshot {snapshot['name']!r} does not match its version hash")
        return DeadlinePolicy(snapshot["name"], stages, self.calendar, self.timezone, version)


def load_policies(rules_dir: Path) -> DeadlinePolicies:
    """Read `rules_dir/deadlines.yaml` (or a file path given directly)."""
    path = rules_dir / RULES_FILE if rules_dir.is_dir() else rules_dir
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise PolicyError(f"{path}: cannot read: {exc.strerror or exc}") from None
    return parse_policies(text, path)


def parse_policies(text: str, path: Path) -> DeadlinePolicies:
    tree = _load_with_lines(text, path)
    if not isinstance(tree, _LineDict):
        raise PolicyError(f"{path}:1: the file must be a mapping with `policies:`")
    try:
        raw = _RawFile.model_validate(tree)
    except ValidationError as exc:
        raise PolicyError(_format_errors(exc, tree, path)) from None

    try:
        tz = ZoneInfo(raw.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise PolicyError(f"{path}:{tree.line_of('timezone')}: unknown timezone {raw.timezone!r}") from None

    fallback = {
        year: FallbackYear(frozenset(spec.holidays), frozenset(spec.working_days))
        for year, spec in raw.fallback_calendar.items()
    }
    for year, spec in raw.fallback_calendar.items():
        for day in (*spec.holidays, *spec.working_days):
            if day.year != year:
                line = tree.child("fallback_calendar").line_of(year)
                raise PolicyError(f"{path}:{line}: fallback_calendar.{year}: {day} is not in {year}")
    calendar = WorkCalendar(fallback)

    policies_node = tree.child("policies")
    resolved: dict[str, DeadlinePolicy] = {}
    for name in raw.policies:
        stages = _resolve(name, raw, path, policies_node)
        resolved[name] = DeadlinePolicy(name, stages, calendar, tz, _policy_hash(stages))

    whole = {
        "timezone": raw.timezone,
        "fallback_calendar": {
            str(y): {"holidays": sorted(map(str, f.holidays)), "working_days": sorted(map(str, f.working_days))}
            for y, f in sorted(fallback.items())
        },
        "policies": {n: p.version for n, p in sorted(resolved.items())},
    }
    return DeadlinePolicies(resolved, calendar, tz, _hash(whole), path)


def _resolve(name: str, raw: _RawFile, path: Path, node: _LineDict) -> dict[str, StagePolicy]:
    chain: list[str] = []
    current: str | None = name
    while current is not None:
        if current in chain:
            cycle = " -> ".join([*chain, current])
            raise PolicyError(f"{path}:{node.line_of(name)}: policies.{name}: `extends` cycle: {cycle}")
        if current not in raw.policies:
            line = node.child(chain[-1]).line_of("extends")
            raise PolicyError(f"{path}:{line}: policies.{chain[-1]}.extends: unknown policy {current!r}")
        chain.append(current)
        current = raw.policies[current].extends

    merged: dict[str, dict[str, Any]] = {}
    # Base first, so the named policy's own settings win.
    for policy_name in reversed(chain):
        policy = raw.policies[policy_name]
        for stage in STAGES:
            spec: _RawStage | None = getattr(policy, stage)
            if spec is None:
                continue
            into = merged.setdefault(stage, {})
            for key, value in spec.model_dump(exclude_none=True).items():
                if key == "escalation":
                    into["escalation"] = {**into.get("escalation", {}), **value}
                else:
                    into[key] = value

    stages: dict[str, StagePolicy] = {}
    for stage in STAGES:
        if stage not in merged:
            continue
        where = f"{path}:{_stage_line(stage, chain, node)}: policies.{name}.{stage}"
        stages[stage] = _finish_stage(stage, merged[stage], raw.defaults, where)
    if not stages:
        raise PolicyError(f"{path}:{node.line_of(name)}: policies.{name}: defines no stage")
    return stages


def _stage_line(stage: str, chain: list[str], node: _LineDict) -> int:
    for policy_name in chain:
        policy_node = node.child(policy_name)
        if stage in policy_node:
            return policy_node.line_of(stage)
    return node.line_of(chain[0])


def _finish_stage(stage: Stage, spec: dict[str, Any], defaults: _RawDefaults, where: str) -> StagePolicy:
    unit: Unit = spec.get("unit", "days")
    unit_defaults = defaults.hours if unit == "hours" else defaults.days
    limit: int | None = spec.get("limit")
    limit_from: LimitFrom | None = spec.get("limit_from")
    if limit is None and limit_from is None:
        raise PolicyError(f"{where}: needs `limit` or `limit_from`")
    if limit_from == "assignment.due_days" and unit != "days":
        raise PolicyError(f"{where}: limit_from assignment.due_days needs unit: days")
    if limit_from == "report_within_hours" and unit != "hours":
        raise PolicyError(f"{where}: limit_from report_within_hours needs unit: hours")
    if unit == "hours" and spec.get("calendar") == "working_days":
        raise PolicyError(f"{where}: an hours stage runs on the clock; calendar: working_days is not allowed")
    calendar: CalendarKind = spec.get("calendar") or unit_defaults.calendar or "calendar_days"
    max_ext_days: int = spec.get("max_extension_days", 0)
    max_extensions: int = spec.get("max_extensions", 1 if max_ext_days > 0 else 0)
    if max_extensions > 0 and max_ext_days == 0:
        raise PolicyError(f"{where}: max_extensions without max_extension_days")
    if unit == "hours" and max_ext_days > 0:
        raise PolicyError(f"{where}: hours stages cannot be extended")
    esc = {**unit_defaults.escalation.model_dump(exclude_none=True), **spec.get("escalation", {})}
    if "levels" not in esc or "breach_window" not in esc:
        raise PolicyError(f"{where}: escalation needs levels and breach_window (here or in defaults)")
    return StagePolicy(
        stage=stage,
        unit=unit,
        limit=limit,
        limit_from=limit_from,
        calendar=calendar,
        warning=spec.get("warning", unit_defaults.warning),
        max_extension_days=max_ext_days,
        max_extensions=max_extensions,
        escalation=Escalation(levels=esc["levels"], breach_window=esc["breach_window"]),
    )


def _policy_hash(stages: Mapping[str, StagePolicy]) -> str:
    return _hash({name: sp.as_dict() for name, sp in sorted(stages.items())})


def _hash(value: Any) -> str:
    canonical = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()[:16]


# --- YAML with line numbers -------------------------------------------------------------------------


class _LineDict(dict[Any, Any]):
    """A mapping that remembers the line of each key (1-based)."""

    def __init__(self, line: int) -> None:
        super().__init__()
        self.line = line
        self.key_lines: dict[Any, int] = {}

    def line_of(self, key: Any) -> int:
        return self.key_lines.get(key, self.line)

    def child(self, key: Any) -> _LineDict:
        value = self.get(key)
        return value if isinstance(value, _LineDict) else _LineDict(self.line_of(key))


class _LineList(list[Any]):
    def __init__(self, line: int) -> None:
        super().__init__()
        self.line = line
        self.item_lines: list[int] = []


def _load_with_lines(text: str, path: Path) -> Any:
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 1
        problem = getattr(exc, "problem", None) or str(exc)
        raise PolicyError(f"{path}:{line}: invalid YAML: {problem}") from None
    if root is None:
        raise PolicyError(f"{path}:1: the file is empty")
    constructor = yaml.SafeLoader("")

    def build(node: yaml.Node) -> Any:
        line = node.start_mark.line + 1
        if isinstance(node, yaml.MappingNode):
            mapping = _LineDict(line)
            for key_node, value_node in node.value:
                key = build(key_node)
                if isinstance(key, (_LineDict, _LineList)):
                    raise PolicyError(f"{path}:{key_node.start_mark.line + 1}: a key must be a scalar")
                if key in mapping:
                    raise PolicyError(f"{path}:{key_node.start_mark.line + 1}: duplicate key {key!r}")
                mapping[key] = build(value_node)
                mapping.key_lines[key] = key_node.start_mark.line + 1
            return mapping
        if isinstance(node, yaml.SequenceNode):
            seq = _LineList(line)
            for item in node.value:
                seq.append(build(item))
                seq.item_lines.append(item.start_mark.line + 1)
            return seq
        try:
            return constructor.construct_object(node, deep=True)
        except (yaml.YAMLError, ValueError) as exc:
            raise PolicyError(f"{path}:{line}: invalid value: {exc}") from None

    return build(root)


def _format_errors(exc: ValidationError, tree: _LineDict, path: Path) -> str:
    lines = []
    for err in exc.errors():
        loc = [part for part in err["loc"] if not _is_union_tag(part)]
        line = _line_for(tree, loc)
        dotted = ".".join(str(part) for part in loc) or "(file)"
        lines.append(f"{path}:{line}: {dotted}: {err['msg']}")
    return "\n".join(lines)


def _is_union_tag(part: Any) -> bool:
    # pydantic inserts the union member's name (e.g. `_RawStage`) or a key marker into the location.
    return isinstance(part, str) and (part.startswith("_Raw") or part == "[key]")


def _line_for(tree: Any, loc: list[Any]) -> int:
    node = tree
    line: int = tree.line
    for part in loc:
        if isinstance(node, _LineDict) and part in node:
            line = node.line_of(part)
            node = node[part]
        elif isinstance(node, _LineDict) and isinstance(part, str) and part.isdigit() and int(part) in node:
            line = node.line_of(int(part))
            node = node[int(part)]
        elif isinstance(node, _LineList) and isinstance(part, int) and 0 <= part < len(node):
            line = node.item_lines[part]
            node = node[part]
        else:
            break
    return line
