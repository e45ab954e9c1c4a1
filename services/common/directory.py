"""The organisation directory: which units exist, who supervises whom, where a case is competent."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from services.common.regions import LEVEL_RANK, RegionTree


@dataclass(frozen=True)
class Supervision:
    at: str  # "up": the next level that has the department; "here": the same region
    department: str


@dataclass(frozen=True)
class Directory:
    tree: RegionTree
    scope: tuple[str, ...]
    departments: dict[str, str]  # code -> name
    by_level: dict[str, frozenset[str]]
    added: dict[str, frozenset[str]] = field(default_factory=dict)  # region -> extra departments
    removed: dict[str, frozenset[str]] = field(default_factory=dict)
    supervision: dict[tuple[str, str], Supervision] = field(default_factory=dict)  # (level, department)
    unit_supervisors: dict[str, str] = field(default_factory=dict)
    leader_roles: dict[str, str] = field(default_factory=dict)
    # Memos of in_scope and above_unit (the directory never changes once loaded); bounded by its units.
    _in_scope: dict[str, bool] = field(default_factory=dict, compare=False, repr=False)
    _above: dict[str, str | None] = field(default_factory=dict, compare=False, repr=False)

    def in_scope(self, region: str) -> bool:
        known = self._in_scope.get(region)
        if known is None:
            known = region in self.tree and any(self.tree.is_within(region, root) for root in self.scope)
            if region in self.tree:
                self._in_scope[region] = known
        return known

    def departments_at(self, region: str) -> frozenset[str]:
        base = self.by_level.get(self.tree.level(region), frozenset())
        return (base | self.added.get(region, frozenset())) - self.removed.get(region, frozenset())

    def has_unit(self, unit: str) -> bool:
        region, _, department = unit.partition(":")
        return region in self.tree and department in self.departments_at(region)

    def scope_regions(self) -> Iterator[str]:
        for root in self.scope:
            for region in self.tree.descendants(root):
                yield region.code

    def at_or_above(self, region: str, level: str) -> str:
        """The region's ancestor at `level`, or the region itself when it already lies at or above it."""
        if LEVEL_RANK[self.tree.level(region)] >= LEVEL_RANK[level]:
            return region
        ancestor = self.tree.ancestor_at(region, level)  # type: ignore[arg-type]
        return ancestor.code if ancestor is not None else region

    def find_up(self, region: str, department: str) -> str | None:
        """The nearest unit of `department` at or above `region`, without leaving the scope."""
        for candidate in self.tree.lineage(region):
            if not self.in_scope(candidate.code):
                return None
            if department in self.departments_at(candidate.code):
                return f"{candidate.code}:{department}"
        return None

    def apart(self, a: str, b: str) -> bool:
        """The two regions lie in different counties and neither contains the other (三跨, 人户分离)."""
        tree = self.tree
        county_a, county_b = tree.ancestor_at(a, "county"), tree.ancestor_at(b, "county")
        if county_a is not None and county_b is not None and county_a.code == county_b.code:
            return False
        return not (tree.is_within(a, b) or tree.is_within(b, a))

    def above_unit(self, unit: str) -> str | None:
        """Who decides a complaint about `unit` when its category's department gives no other unit
        (DOMAIN.md §4.5b): its supervising unit if that lies in the scope, else the government of the
        unit's own region; None when the unit is that government (the level above is asked: redirect)."""
        if unit in self._above:
            return self._above[unit]
        above = self._above_unit(unit)
        if self.has_unit(unit):
            self._above[unit] = above
        return above

    def _above_unit(self, unit: str) -> str | None:
        supervisor = self.supervisor(unit)
        if supervisor is not None and supervisor != unit and self.in_scope(supervisor.partition(":")[0]):
            return supervisor
        region, _, department = unit.partition(":")
        government = f"{region}:gov"
        if department != "gov" and self.in_scope(region) and "gov" in self.departments_at(region):
            return government
        return None

    def supervisor(self, unit: str) -> str | None:
        """The unit that supervises `unit` (DOMAIN.md §4.1): the same department one level up by default."""
        if unit in self.unit_supervisors:
            return self.unit_supervisors[unit]
        region, _, department = unit.partition(":")
        if region not in self.tree:
            return None
        rule = self.supervision.get((self.tree.level(region), department), Supervision("up", department))
        if rule.at == "here" and rule.department in self.departments_at(region):
            return f"{region}:{rule.department}"
        for candidate in list(self.tree.lineage(region))[1:]:
            if rule.department in self.departments_at(candidate.code):
                return f"{candidate.code}:{rule.department}"
        return None
