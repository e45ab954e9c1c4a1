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

    def in_scope(self, region: str) -> bool:
        return region in self.tree and any(self.tree.is_within(region, root) for root in self.scope)

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
