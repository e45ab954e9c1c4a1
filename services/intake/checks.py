"""Per-field checks that need more than a type: the region table, the category list, the clock.

They run inside pydantic (as validators of `submission.Submission`), so every failing field is
reported in one pass together with the structural errors. What they check against comes from the
validation context (`ValidationContext`, passed by `validation.validate_submission`); without one
they use the official region table, the categories of DOMAIN.md §4.2 and the current time.

Regions: a code must be in the table (6-digit down to county, 9-digit towns, `000000` national).
The shipped table stops at towns, so a 12-digit village/community code is accepted when its first
9 digits are a town in the table and its last 3 digits are not `000` (that would be the town itself),
unless the deployment's tree already lists villages, in which case those are known exactly.

Once the deployment's rules are read (services.common.rules_files; `use_rules`, at start and on every
change of rules/), regions and units are checked against the organisation directory: a region must be
in its tree and a unit id must name a unit that exists (`<region>:<department>` with that department in
that region), so that every accepted case can be routed; an unknown department is refused, never
accepted and dead-lettered.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import lru_cache, partial
from pathlib import Path
from typing import Protocol
from zoneinfo import ZoneInfo

from pydantic import ValidationInfo

from services.common.field_errors import custom_error
from services.common.regions import RegionTree, official_regions, region_known
from services.common.rules_files import read_rules_files
from services.intake.identity import (
    IdentifierInvalid,
    check_credit_code,
    check_email,
    check_id_number,
    find_identifiers,
    normalise_phone,
)

CONTEXT_KEY = "xinfang"
# DOMAIN.md §4.2; rule files may add more (passed in as extra categories).
CATEGORIES: tuple[str, ...] = (
    "land_acquisition",
    "wage_arrears",
    "social_security",
    "housing",
    "urban_renewal",
    "social_assistance",
    "enterprise_restructuring",
    "education",
    "health",
    "environment",
    "public_security",
    "litigation",
    "official_conduct",
    "rural_land",
    "village_affairs",
    "veterans",
    "neighbourhood",
    "other",
)
# Clocks of upstream systems drift; a received_at this far ahead of ours is still accepted.
CLOCK_SKEW = timedelta(minutes=5)
# No petition in any system predates this (the 1995 信访条例); earlier is a wrong or epoch-zero date.
EARLIEST_RECEIVED = datetime(1990, 1, 1, tzinfo=UTC)
_LOCAL = ZoneInfo("Asia/Shanghai")
_WHAT = {
    "id_number": ("an identity number", "身份证号码"),
    "phone": ("a phone number", "电话号码"),
    "email": ("an e-mail address", "电子邮件地址"),
}


class UnitDirectory(Protocol):
    """What intake asks of the organisation directory (services.common.directory.Directory)."""

    @property
    def tree(self) -> RegionTree: ...

    def has_unit(self, unit: str) -> bool: ...


@dataclass(frozen=True)
class ValidationContext:
    regions: RegionTree = field(default_factory=official_regions)
    categories: frozenset[str] = frozenset(CATEGORIES)
    now: datetime | None = None  # None: the time of the check
    # The deployment's directory: a unit id must name one of its units. None (rules unreadable): only
    # the unit's region is checked.
    directory: UnitDirectory | None = None

    @classmethod
    def build(
        cls,
        *,
        regions: RegionTree | None = None,
        extra_categories: Iterable[str] = (),
        now: datetime | None = None,
    ) -> ValidationContext:
        categories = frozenset(CATEGORIES).union(_in_force.categories, extra_categories)
        return cls(regions or official_regions(), categories, now, _in_force.directory)

    def current_time(self) -> datetime:
        return self.now or datetime.now(UTC)


@dataclass(frozen=True)
class RulesInForce:
    """What rules/ adds to intake's checks: the categories rules/categories.yaml adds to DOMAIN.md §4.2's,
    and the organisation directory (None: not read, only a unit's region is checked)."""

    categories: frozenset[str] = frozenset()
    directory: UnitDirectory | None = None


# The one holder of what was read; its one setter is `use_rules`.
_in_force = RulesInForce()


def use_rules(categories: Iterable[str], directory: UnitDirectory | None) -> None:
    """Check against these from now on (IntakeService: at start and whenever rules/ changes)."""
    global _in_force
    _in_force = RulesInForce(frozenset(categories), directory)
    default_context.cache_clear()


def deployment_rules(rules_dir: Path) -> tuple[frozenset[str], UnitDirectory]:
    """The category codes of rules/categories.yaml and the directory of rules/directory.yaml, read by the
    services' one reader of rules/. Raises RuleError (`file:line: problem` lines) or OSError."""
    files = read_rules_files(rules_dir)
    return frozenset(files.categories), files.directory


@lru_cache(maxsize=1)
def default_context() -> ValidationContext:
    return ValidationContext.build()


def context_of(info: ValidationInfo) -> ValidationContext:
    given = info.context.get(CONTEXT_KEY) if isinstance(info.context, dict) else None
    return given if isinstance(given, ValidationContext) else default_context()


def routable_region(context: ValidationContext, code: str) -> bool:
    """A region the router knows: with the deployment's directory, exactly the codes of its tree (the
    router dead-letters any other, a 12-digit village code beyond the tree too)."""
    if context.directory is not None:
        return code in context.directory.tree
    return region_known(context.regions, code)


def check_region(code: str, info: ValidationInfo) -> str:
    if not routable_region(context_of(info), code):
        raise custom_error("region_unknown")
    return code


def check_county(code: str, info: ValidationInfo) -> str:
    """人户分离: the residence is a county (区/县/旗) of the table, never anything finer."""
    tree = context_of(info).regions
    if code not in tree or tree.level(code) != "county":
        raise custom_error("residence_not_county")
    return code


def check_unit(unit: str, info: ValidationInfo) -> str:
    context = context_of(info)
    if not routable_region(context, unit.split(":", 1)[0]):
        raise custom_error("unit_region_unknown")
    if not unit_known(context.directory, unit):
        raise custom_error("unit_unknown")
    return unit


def unit_known(directory: UnitDirectory | None, unit: str) -> bool:
    """Whether the directory has this unit (always, when no directory could be read)."""
    return directory is None or directory.has_unit(unit)


def check_category(code: str, info: ValidationInfo) -> str:
    if code not in context_of(info).categories:
        raise custom_error("category_unknown", category=code)
    return code


def check_received_at(value: datetime, info: ValidationInfo) -> datetime:
    try:
        utc = value.astimezone(UTC)
    except OverflowError:  # year 1 or 9999 with an offset: beyond what datetime holds in UTC
        if value.year < EARLIEST_RECEIVED.year:
            raise custom_error("received_at_too_early", earliest=EARLIEST_RECEIVED.date().isoformat()) from None
        raise custom_error("received_at_future") from None
    if utc < EARLIEST_RECEIVED:
        raise custom_error("received_at_too_early", earliest=EARLIEST_RECEIVED.date().isoformat())
    if utc > context_of(info).current_time() + CLOCK_SKEW:
        raise custom_error("received_at_future")
    return value


def check_assigned_at(value: datetime, info: ValidationInfo) -> datetime:
    if value > context_of(info).current_time() + CLOCK_SKEW:
        raise custom_error("assigned_at_future")
    return value


def _identifier(check: Callable[[str], str], value: str) -> str:
    """`check(value)`, its `IdentifierInvalid` raised as the pydantic error of the same code."""
    try:
        return check(value)
    except IdentifierInvalid as error:
        raise custom_error(error.code) from None


def check_id_number_field(value: str, info: ValidationInfo) -> str:
    today = context_of(info).current_time().astimezone(_LOCAL).date()
    return _identifier(partial(check_id_number, today=today), value)


def check_phone_field(value: str) -> str:
    return _identifier(normalise_phone, value)


def check_credit_code_field(value: str) -> str:
    return _identifier(check_credit_code, value)


def check_email_field(value: str) -> str:
    return _identifier(check_email, value)


def check_summary(text: str) -> str:
    """Refuse a summary with an identity number, phone number or e-mail address in it."""
    found = find_identifiers(text)
    if found:
        what, what_zh = _WHAT[found[0].kind]
        raise custom_error("summary_personal_data", what=what, what_zh=what_zh)
    return text
