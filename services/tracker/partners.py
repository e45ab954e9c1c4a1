"""Who published a `case.lifecycle` record, and whether they may act on that case.

Kafka ACLs let a unit's system write `case.lifecycle` at all; they cannot say on which cases. So every
lifecycle record must be signed (services.common.signing): by a partner, an intake client holding a
signing key (`xf intake client signing-key add`), or by the tracker itself with the services' key
(XF_EVENT_SIGNING_KEY: its API's actions, the scanner's and the re-review's conclusions). A record
whose signature does not verify is refused before it is parsed. A partner's event is applied only when
the partner may submit and its submit scope covers a unit that may act on the case as it stands then
(services.tracker.actions.units_for_event: the unit that must act, and for supervision the units
above it); the tracker's own events were authorised when they were made. `case.received` and
`case.routed` are written by intake and the router only (Kafka ACLs) and carry no signature.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

import asyncpg

from services.access import registry
from services.access.scopes import Client, unit_in_scope
from services.common import signing
from services.common.lifecycle import LifecycleEvent
from services.common.topics import CASE_LIFECYCLE
from services.tracker.actions import units_for_event
from services.tracker.engine import CaseRecord

SERVICE = "tracker"
OUT_OF_SCOPE = "out_of_scope"


class RegistryNotReady(ConnectionError):
    """Intake's registry lacks the signing-key columns (intake not migrated yet): the batch waits and is
    redelivered (a ConnectionError is one of the consumer's transient errors), nothing is refused."""


class SignedRecord(Protocol):
    @property
    def topic(self) -> str: ...
    @property
    def value(self) -> bytes: ...
    @property
    def headers(self) -> Sequence[tuple[str, bytes]]: ...
    @property
    def timestamp(self) -> int | None: ...
    @property
    def timestamp_type(self) -> int | None: ...


@dataclass(frozen=True)
class Signer:
    """Who signed a record: a partner (its client) or, with `client` None, the services themselves."""

    name: str
    client: Client | None = None


def may_act(signer: Signer, event: LifecycleEvent, record: CaseRecord) -> bool:
    if signer.client is None:
        return True
    client = signer.client
    return client.may("submit") and any(
        unit_in_scope(unit, client.submit_scope) for unit in units_for_event(event, record)
    )


class Partners:
    """Verifies the signatures of consumed records against the services' key and intake's registry."""

    def __init__(self, pool: asyncpg.Pool | None, service_key: str, tolerance: float) -> None:
        self.pool = pool
        self.service = signing.service_signer(SERVICE, service_key)
        self.tolerance = tolerance

    async def lookup(self, names: Iterable[str]) -> dict[str, registry.Partner]:
        wanted = [name for name in names if not signing.is_service(name)]
        if not wanted or self.pool is None:
            return {}
        async with self.pool.acquire() as conn:
            try:
                return await registry.signing_partners(conn, wanted)
            except asyncpg.exceptions.UndefinedTableError:
                return {}  # intake has not created its registry yet: nobody is known
            except asyncpg.exceptions.UndefinedColumnError as error:
                raise RegistryNotReady(f"intake's client registry has no signing keys yet ({error})") from None

    async def signer_named(self, name: str) -> Signer | None:
        """The signer of a parked event, as it is now (its key may have been removed meanwhile)."""
        if name == self.service.name:
            return Signer(name)
        partner = (await self.lookup([name])).get(name)
        return Signer(name, partner.client) if partner is not None else None

    async def identify(self, records: Sequence[SignedRecord]) -> list[Signer | signing.Unverified | None]:
        """Per record: who signed it, why that cannot be established, or None (a topic without signatures)."""
        signed = [signing.signed_or_refusal(r.headers) if r.topic == CASE_LIFECYCLE.name else None for r in records]
        partners = await self.lookup({s.partner for s in signed if isinstance(s, signing.Signed)})
        found: list[Signer | signing.Unverified | None] = []
        for record, item in zip(records, signed, strict=True):
            if item is None or isinstance(item, signing.Unverified):
                found.append(item)
                continue
            try:
                found.append(self._verify(record, item, partners))
            except signing.Unverified as refusal:
                found.append(refusal)
        return found

    def _verify(self, record: SignedRecord, item: signing.Signed, partners: dict[str, registry.Partner]) -> Signer:
        if signing.is_service(item.partner):
            if item.partner != self.service.name:
                raise signing.Unverified("unknown_partner", f"no service {item.partner!r} publishes lifecycle events")
            keys: tuple[str, ...] = (self.service.key,)
            client = None
        else:
            partner = partners.get(item.partner)
            if partner is None:
                raise signing.Unverified("unknown_partner", f"no active client {item.partner!r} with a signing key")
            keys, client = partner.keys, partner.client
        appended = signing.appended_at(record.timestamp, record.timestamp_type)
        signing.verify(item, record.value, keys, appended_at=appended, tolerance=self.tolerance)
        return Signer(item.partner, client)
