"""Memoised region and directory look-ups of one rule set.

Rules are immutable once loaded, so an entry never goes stale; a reload builds a new Lookups.
Only valid inputs are remembered (an unknown region raises every time), so the tables are bounded
by the region tree and the directory, except the calendar days, which are capped.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, tzinfo
from functools import cache
from typing import TYPE_CHECKING, Any, NamedTuple

from services.common.regions import LEVEL_RANK
from services.router.problems import CaseError

if TYPE_CHECKING:
    from services.common.directory import Directory
    from services.router.model import CompiledRules
    from services.router.steps import Resolution

MAX_DAYS = 4096
NONE = "none"
MAX_ENTRIES = 200_000


# The memoised values are named tuples of strings and numbers: the garbage collector stops tracking
# such tuples, so tens of thousands of entries cost nothing at each collection.


class RegionFacts(NamedTuple):
    level: str
    in_scope: bool
    county: str  # the county containing the region, or the region itself above county level


class Found(NamedTuple):
    """Where the competent unit was looked for, and what was found (None: a gap in the directory, or,
    with `above_scope`, a complaint that belongs above the deployment's scope)."""

    start: str
    unit: str | None
    above_scope: bool = False


class UnitFacts(NamedTuple):
    level: str
    rank: int
    department: str
    co_units: tuple[str, ...]


class CaseContext(NamedTuple):
    """What resolution needs besides the facts."""

    matter_region: str
    received_by: str
    received_region: str
    target_unit: str | None
    target_region: str | None


class Place(NamedTuple):
    """What a case's facts owe to its places (matter, receiving unit, unit complained about)."""

    target_department: str
    target_level: str
    matter_level: str
    received_level: str
    received_department: str
    in_scope: bool
    cross_region: bool
    separation: bool
    context: CaseContext


def place_of(matter: str, received_by: str, target_unit: str | None, residence: str | None, lookups: Lookups) -> Place:
    region = lookups.region(matter, "location.region")
    received_region, received_department = lookups.unit(received_by, "received_by")
    directory = lookups.directory
    target_region: str | None = None
    target_department = NONE
    target_level = NONE
    cross_region = False
    if target_unit is not None:
        target_region, target_department = lookups.unit(target_unit, "target_unit")
        target = lookups.region(target_region, "target_unit")
        target_level = target.level
        # A city unit complained about over a matter in one of its own counties is not cross-region.
        cross_region = region.county != target.county and directory.apart(matter, target_region)
    separation = False
    if residence is not None:
        lookups.region(residence, "residence.region")
        separation = directory.apart(matter, residence)
    return Place(
        target_department,
        target_level,
        region.level,
        lookups.region(received_region, "received_by").level,
        received_department,
        region.in_scope,
        cross_region,
        separation,
        CaseContext(matter, received_by, received_region, target_unit, target_region),
    )


FIXED_FROM = datetime(2000, 1, 1, tzinfo=UTC).timestamp()
FIXED_UNTIL = datetime(2100, 1, 1, tzinfo=UTC).timestamp()
EPOCH_DAY = date(1970, 1, 1).toordinal()


@cache
def fixed_offset(zone: tzinfo) -> float | None:
    """The zone's offset from UTC in seconds if it is the same all through 2000–2099 (looked at
    every week, at noon UTC), else None."""
    start = datetime(2000, 1, 1, 12, tzinfo=UTC)
    offsets = {(start + timedelta(days=7 * week)).astimezone(zone).utcoffset() for week in range(100 * 53)}
    if len(offsets) != 1:
        return None
    [offset] = offsets
    return offset.total_seconds() if offset is not None else None


class Lookups:
    def __init__(self, rules: CompiledRules) -> None:
        self._rules = rules
        self._regions: dict[str, RegionFacts] = {}
        self._units: dict[str, tuple[str, str]] = {}
        self._days: dict[date, bool] = {}
        self._day_numbers: dict[int, bool] = {}  # days since 1970-01-01 in the deployment's zone
        # Days by arithmetic instead of astimezone() where the zone keeps one offset (e.g. Asia/Shanghai).
        self._offset = fixed_offset(rules.deployment.timezone)
        self._found: dict[tuple[str, str, str, str | None, str], Found] = {}
        self._above: dict[tuple[str, str], str] = {}
        self._up: dict[tuple[str, str], str | None] = {}
        self._unit_facts: dict[tuple[str, tuple[str, ...]], UnitFacts] = {}
        self._places: dict[tuple[str, str, str | None, str | None], Place] = {}
        # What services.router.steps.resolve found, by everything it depends on (its own memo).
        self.resolutions: dict[tuple[Any, ...], Resolution] = {}

    def region(self, code: str, field: str) -> RegionFacts:
        known = self._regions.get(code)
        if known is not None:
            return known
        directory = self._rules.directory
        tree = directory.tree
        if code not in tree:
            raise CaseError(field, f"unknown region code {code!r}")
        county = tree.ancestor_at(code, "county")
        known = RegionFacts(tree.level(code), directory.in_scope(code), county.code if county is not None else code)
        self._regions[code] = known
        return known

    @property
    def directory(self) -> Directory:
        return self._rules.directory

    def place(self, matter: str, received_by: str, target_unit: str | None, residence: str | None = None) -> Place:
        """The facts a case owes to its places; raises CaseError naming the field of an unknown one."""
        key = (matter, received_by, target_unit, residence)
        known = self._places.get(key)
        if known is None:
            if len(self._places) >= MAX_ENTRIES:
                self._places.clear()
            known = self._places[key] = place_of(matter, received_by, target_unit, residence, self)
        return known

    def unit(self, unit: str, field: str) -> tuple[str, str]:
        """(region, department) of a unit id the directory knows the parts of."""
        known = self._units.get(unit)
        if known is not None:
            return known
        region, _, department = unit.partition(":")
        if region not in self._rules.directory.tree:
            raise CaseError(field, f"unknown region code {region!r} in unit {unit!r}")
        if department not in self._rules.directory.departments:
            raise CaseError(field, f"unknown department {department!r} in unit {unit!r}")
        self._units[unit] = (region, department)
        return region, department

    def sensitive(self, received_at: datetime) -> bool:
        """Whether the case was received in a sensitive period, by its day in the deployment's time zone."""
        stamp = received_at.timestamp()
        if self._offset is not None and FIXED_FROM <= stamp < FIXED_UNTIL:
            day_number = int((stamp + self._offset) // 86_400)
            known = self._day_numbers.get(day_number)
            if known is None:
                known = self._day_numbers[day_number] = self._on(date.fromordinal(EPOCH_DAY + day_number))
            return known
        return self._on(received_at.astimezone(self._rules.deployment.timezone).date())

    def _on(self, day: date) -> bool:
        known = self._days.get(day)
        if known is None:
            if len(self._days) >= MAX_DAYS:
                self._days.clear()
                self._day_numbers.clear()
            known = self._days[day] = self._rules.deployment.window_on(day) is not None
        return known

    def found(self, department: str, level: str, anchor: str, target_unit: str | None, matter: str) -> Found:
        """The competent unit (谁主管, 属地管理、分级负责) for a matter in scope, before the 首问负责 fallback."""
        key = (department, level, anchor, target_unit, matter)
        known = self._found.get(key)
        if known is None:
            if len(self._found) >= MAX_ENTRIES:
                self._found.clear()
                self._above.clear()
                self._up.clear()
            known = self._find(department, level, anchor, target_unit, matter)
            self._found[key] = known
        return known

    def _find(self, department: str, level: str, anchor: str, target_unit: str | None, matter: str) -> Found:
        directory = self._rules.directory
        target_region = target_unit.partition(":")[0] if target_unit is not None else None
        start = matter
        if anchor == "above_target" and target_unit is not None:
            supervisor = directory.supervisor(target_unit)
            start = supervisor.partition(":")[0] if supervisor else target_region or start
        elif anchor == "covering" and target_region is not None:
            start = directory.tree.lowest_common(matter, target_region).code
        competent = self._find_up(self._at_or_above(start, level), department)
        if target_unit is None or anchor == "matter":
            return Found(start, competent)
        beyond = competent is None and (anchor == "above_target" or not directory.in_scope(start))
        if competent == target_unit or beyond:
            # The category's department there is the unit complained about, or there is none above it
            # in the scope: the unit above it decides (its supervisor, else its own government), or the
            # level above the deployment when the unit is that government (DOMAIN.md §4.5b). A matter
            # that only a level above the scope covers (covering anchor) goes there too.
            if competent == target_unit or anchor == "above_target":
                competent = directory.above_unit(target_unit)
            else:
                competent = None
            return Found(start, competent, above_scope=competent is None)
        if competent is None and anchor == "covering":
            # No such department at or above the lowest level covering both: its government decides.
            return Found(start, self._find_up(start, "gov"))
        return Found(start, competent)

    # Many matters share a county: these two are cached by what they depend on, not by the matter.
    def _at_or_above(self, region: str, level: str) -> str:
        key = (region, level)
        known = self._above.get(key)
        if known is None:
            known = self._above[key] = self._rules.directory.at_or_above(region, level)
        return known

    def _find_up(self, region: str, department: str) -> str | None:
        key = (region, department)
        if key not in self._up:
            self._up[key] = self._rules.directory.find_up(region, department)
        return self._up[key]

    def unit_facts(self, unit: str, co_departments: tuple[str, ...]) -> UnitFacts:
        key = (unit, co_departments)
        known = self._unit_facts.get(key)
        if known is None:
            if len(self._unit_facts) >= MAX_ENTRIES:
                self._unit_facts.clear()
            directory = self._rules.directory
            region, _, department = unit.partition(":")
            present = directory.departments_at(region)
            level = directory.tree.level(region)
            co_units = tuple(f"{region}:{d}" for d in co_departments if d in present)
            known = UnitFacts(level, LEVEL_RANK[level], department, co_units)
            self._unit_facts[key] = known
        return known
