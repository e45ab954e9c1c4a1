"""Who published a `case.submitted` record: the client whose signature it carries (services.common.signing).

A record is read only once its signature verifies with the signing key of an active client; what that
client may submit (role, channels, submit scope, sources) is then checked as over HTTP. A name inside
the record (the envelope `source`) never says who sent it.
"""

from __future__ import annotations

from collections.abc import Sequence

from aiokafka.structs import ConsumerRecord

from services.access import registry
from services.access.scopes import Client
from services.common import signing
from services.common.db import Conn
from services.common.field_errors import field_error
from services.intake.kafka_in import Refused


async def signers(
    conn: Conn, records: Sequence[ConsumerRecord[bytes, bytes]], *, tolerance: float
) -> list[Client | Refused]:
    """For each record, the client that signed it, or why it cannot be taken as anyone's."""
    signed = [signing.signed_or_refusal(record.headers) for record in records]
    names = {s.partner for s in signed if isinstance(s, signing.Signed) and not signing.is_service(s.partner)}
    partners = await registry.signing_partners(conn, names)
    found: list[Client | Refused] = []
    for record, item in zip(records, signed, strict=True):
        try:
            if isinstance(item, signing.Unverified):
                raise item
            partner = partners.get(item.partner)
            if partner is None:
                raise signing.Unverified("unknown_partner", f"no active client {item.partner!r} with a signing key")
            signing.verify(
                item,
                record.value or b"",
                partner.keys,
                appended_at=signing.appended_at(record.timestamp, record.timestamp_type),
                tolerance=tolerance,
            )
        except signing.Unverified as refusal:
            event_id = item.event_id if isinstance(item, signing.Signed) else signing.event_id_of(record.headers)
            error = field_error(signing.SIGNATURE_HEADER, f"signature_{refusal.reason}")
            found.append(Refused(refusal.reason, (error,), event_id))
            continue
        found.append(partner.client)
    return found
