"""API clients and their scopes: who may submit and read which cases, in every service. Pure; the
store is registry.py, the keys keys.py.

Roles (what a client may do at all):
- `upstream`: another system. Submits (HTTP, and over Kafka with records it signs with its signing key
  and an envelope `source` among its `sources`), reads and lists within its scopes; may act on cases.
- `reception`: a reception desk or its staff. Submits over HTTP, reads and lists within its scopes.
- `operator`: reads and lists within its read scope; never submits.

Scopes are lists of entries: a region code (6, 9 or 12 digits) stands for every unit of that region
and of every region below it; a unit id (`150627:hrss`) stands for that unit only. A submission's
`received_by` must lie in the submit scope, its channel in `channels`. A case can be read when the
client submitted it, or its receiving, handling or co-handling unit lies in the read scope.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Literal, get_args

from services.common.schemas import CHANNELS

Role = Literal["upstream", "reception", "operator"]
ROLES: tuple[str, ...] = get_args(Role)
Action = Literal["submit", "read"]
ROLE_ACTIONS: dict[str, frozenset[str]] = {
    "upstream": frozenset({"submit", "read"}),
    "reception": frozenset({"submit", "read"}),
    "operator": frozenset({"read"}),
}

_CLIENT_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
_REGION = re.compile(r"^(\d{6}|\d{9}|\d{12})$")
UNIT_PATTERN = r"^(\d{6}|\d{9}|\d{12}):[a-z_]+$"
# Case numbers are XF<region>-<date>-<sequence>; anything beyond letters, digits and dashes (a NUL that
# PostgreSQL would refuse) is refused before a query.
CASE_ID_PATTERN = r"^[A-Za-z0-9-]+$"
_UNIT = re.compile(UNIT_PATTERN)
_SOURCE = re.compile(r"^[^\s*]{1,200}\*?$|^\*$")
# Units of these departments coordinate every department of their territory (see `subtree_filter`).
COORDINATING_DEPARTMENTS = frozenset({"gov", "petition"})


class ClientSpecInvalid(ValueError):
    pass


@dataclass(frozen=True)
class Client:
    name: str
    role: Role
    channels: frozenset[str] = frozenset()
    submit_scope: tuple[str, ...] = ()
    read_scope: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()

    def may(self, action: Action) -> bool:
        return action in ROLE_ACTIONS[self.role]


# --- scopes -------------------------------------------------------------------------------------


def region_prefix(region: str) -> str:
    """The code prefix shared by a region and everything below it: 150000 → 15, 150600 → 1506.

    Division codes nest by prefix (GB/T 2260): trailing `00` pairs of a 6-digit code stand for "the
    whole level above". 9- and 12-digit codes are their own prefix; `000000` (national) is empty.
    """
    if len(region) != 6:
        return region
    if region == "000000":
        return ""
    if region.endswith("0000"):
        return region[:2]
    if region.endswith("00"):
        return region[:4]
    return region


def region_of(unit: str) -> str:
    return unit.split(":", 1)[0]


def department_of(unit: str) -> str:
    return unit.split(":", 1)[1] if ":" in unit else ""


def unit_in_scope(unit: str, scope: Iterable[str]) -> bool:
    for entry in scope:
        if ":" in entry:
            if unit == entry:
                return True
        elif region_of(unit).startswith(region_prefix(entry)):
            return True
    return False


def subtree_in_scope(unit: str, scope: Iterable[str]) -> bool:
    """Whether the scope covers every unit below `unit`: only a region entry does."""
    return any(":" not in entry and region_of(unit).startswith(region_prefix(entry)) for entry in scope)


@dataclass(frozen=True)
class UnitFilter:
    """Which units a listing covers, in the form the SQL query takes (see store.list_cases)."""

    unit: str
    prefix: str | None  # None: this unit only; else every unit whose id starts with it...
    department: str | None  # ...and, when set, only of this department


def subtree_filter(unit: str, subtree: bool) -> UnitFilter:
    """A unit's own cases, or also those of the units below it.

    Below a unit are the same department's units in the regions under its region (`150600:hrss`
    sees `150627:hrss`); a government or petition bureau sees every department below it, because
    it coordinates petition work for its whole territory (`150627:petition` sees `150627:hrss`).
    """
    if not subtree:
        return UnitFilter(unit, None, None)
    department = department_of(unit)
    return UnitFilter(
        unit, region_prefix(region_of(unit)), None if department in COORDINATING_DEPARTMENTS else department
    )


def case_readable(client: Client, *, submitted_by: str, units: Sequence[str | None]) -> bool:
    if not client.may("read"):
        return False
    if submitted_by == client.name:
        return True
    return any(unit is not None and unit_in_scope(unit, client.read_scope) for unit in units)


# --- checking what an operator asks for ---------------------------------------------------------


def check_client(client: Client, *, known_region: Callable[[str], bool] | None = None) -> Client:
    """`client`, or `ClientSpecInvalid` naming what is wrong. `known_region(code) -> bool` checks
    scope regions against the official table when given."""
    problems: list[str] = []
    if not _CLIENT_NAME.match(client.name):
        problems.append("name: 1-64 of a-z 0-9 . _ -, starting with a letter or digit")
    if client.role not in ROLES:
        problems.append(f"role: one of {', '.join(ROLES)}")
    unknown_channels = sorted(set(client.channels) - set(CHANNELS))
    if unknown_channels:
        problems.append(f"channels: unknown {', '.join(unknown_channels)} (known: {', '.join(CHANNELS)})")
    if client.role == "operator" and (client.channels or client.submit_scope):
        problems.append("an operator reads only: give it no channels and no submit scope")
    if client.role != "upstream" and client.sources:
        problems.append("sources: only an upstream client publishes on Kafka")
    for label, scope in (("submit scope", client.submit_scope), ("read scope", client.read_scope)):
        for entry in scope:
            if not (_REGION.match(entry) or _UNIT.match(entry)):
                problems.append(f"{label}: {entry!r} is neither a region code nor a unit id")
            elif known_region is not None and not known_region(region_of(entry)):
                problems.append(f"{label}: {entry!r} is not in the official region table")
    for source in client.sources:
        if not _SOURCE.match(source):
            problems.append(f"sources: {source!r} (an event source, optionally ending in *)")
    if problems:
        raise ClientSpecInvalid("; ".join(problems))
    return client
