"""Units and their supervising units (DOMAIN.md §4.1): who a breach is escalated to, who reviews.

A unit is `<region>:<department>`. Its supervising unit is what the organisation directory says
(rules/directory.yaml, read by services.common.rules_files, see `use_directory`); for a unit the
directory does not know (a 12-digit village), or when no directory is loaded, the default rule: the
same department one level up; a village/community unit answers to its town's `gov`. The region one
level up comes from the official division tree (a county of a municipality answers to the province
directly); codes the tree does not know fall back to the code's own prefixes.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache

from services.common.regions import NATIONAL, UnknownRegion, official_regions

_MAX_CHAIN = 8


def split(unit: str) -> tuple[str, str]:
    region, _, department = unit.partition(":")
    return region, department


def region_level(code: str) -> str:
    """By the code's shape: 12 digits village, 9 town; 6 digits by their trailing zeros."""
    if len(code) == 12:
        return "village"
    if len(code) == 9:
        return "town"
    if code == NATIONAL:
        return "national"
    if code.endswith("0000"):
        return "province"
    if code.endswith("00"):
        return "city"
    return "county"


def parent_region(code: str) -> str | None:
    if code == NATIONAL:
        return None
    if len(code) in (9, 12):
        return code[: len(code) - 3] if len(code) == 12 else code[:6]
    try:
        parent = official_regions().get(code).parent
    except UnknownRegion:
        parent = None
    if parent is not None:
        return parent
    level = region_level(code)
    if level == "county":
        return code[:4] + "00"
    if level == "city":
        return code[:2] + "0000"
    return NATIONAL


Supervisor = Callable[[str], "str | None"]
_directory: Supervisor | None = None


def use_directory(directory_supervisor: Supervisor | None) -> None:
    """Take supervising units from the organisation directory from now on (None: the default rule)."""
    global _directory
    _directory = directory_supervisor
    chain.cache_clear()


def supervisor(unit: str) -> str | None:
    """The supervising unit, or None for a national unit."""
    if _directory is not None:
        found = _directory(unit)
        if found is not None:
            return found
    return default_supervisor(unit)


def default_supervisor(unit: str) -> str | None:
    """DOMAIN.md §4.1 without a directory: the same department one level up."""
    region, department = split(unit)
    parent = parent_region(region)
    if parent is None:
        return None
    if region_level(region) == "village":
        return f"{parent}:gov"  # a village/community unit answers to its town government
    return f"{parent}:{department}"


@lru_cache(maxsize=65_536)
def chain(unit: str) -> tuple[str, ...]:
    """The unit itself, then each supervising unit up to the national level."""
    found = [unit]
    while len(found) < _MAX_CHAIN:
        above = supervisor(found[-1])
        if above is None:
            break
        found.append(above)
    return tuple(found)


def escalation_target(unit: str, level: int) -> str:
    """The unit `level` steps above `unit` (the top of the chain if it is shorter)."""
    units = chain(unit)
    return units[min(level, len(units) - 1)]


def county_rollup(unit: str | None) -> str:
    """A metric label for a unit: units below county are counted under their county."""
    if not unit:
        return "none"
    region, department = split(unit)
    if len(region) in (9, 12):
        return f"{region[:6]}:{department}"
    return unit
