"""Who may call the tracker's API: the system's API clients, keys and scopes (services.access).

There is one credential registry for the whole system (intake's `clients` and `api_keys`, managed
with `xf intake client add`), one key format (`X-API-Key: xfk_<id>_<secret>`) and one meaning of a
scope (services.access). The tracker reads the registry through a pool of its own on intake's
schema; a revoked key stops working at once. A unit's case staff or system is a client whose
scopes name the unit (`150627:hrss`) or a region (a subtree):
- recording an action needs the `submit` right (roles upstream, reception) and the unit that must
  act on the case's current stage inside the submit scope;
- reading needs the `read` right and the case's receiving, handling, co-handling or reviewing unit
  inside the read scope; a unit's listing covers it and the units below it (subtree_filter).
"""

from __future__ import annotations

from collections.abc import Iterable

import asyncpg

from services.access import registry
from services.access.scopes import Client, case_readable, unit_in_scope
from services.tracker.records import Row


class Registry:
    """Authenticates API keys against intake's client registry."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def authenticate(self, token: str) -> Client | None:
        async with self.pool.acquire() as conn:
            try:
                return await registry.authenticate(conn, token)
            except asyncpg.exceptions.UndefinedTableError:
                return None  # intake has not created its registry yet: nobody is known


def readable(client: Client, case: Row) -> bool:
    units = [
        case.get("received_by"),
        case.get("handling_unit"),
        case.get("review_unit"),
        case.get("rereview_unit"),
        *(case.get("co_units") or ()),
    ]
    return case_readable(client, submitted_by="", units=units)


def acting_unit(client: Client, candidates: Iterable[str | None]) -> str | None:
    """The first unit that may act here and that the client may act for, else None."""
    if not client.may("submit"):
        return None
    for unit in candidates:
        if unit and unit_in_scope(unit, client.submit_scope):
            return unit
    return None
