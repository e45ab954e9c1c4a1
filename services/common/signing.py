"""Binding a Kafka record to the system that produced it: Standard-Webhooks-style signatures in headers.

Kafka ACLs say who may write to a topic at all; they cannot say "this unit's system may act only on
this unit's cases". So every record a partner (an intake client) or a service publishes on a topic that
partners write to carries, besides `ce-id` (the envelope id), three headers:

    xf-partner:   the client's name (a service signs as `xinfang/<service>`, a name no client can have)
    xf-timestamp: when it was signed, in whole seconds since the Unix epoch
    xf-signature: v1,<base64 of HMAC-SHA256(key, f"{ce-id}.{xf-timestamp}.{record value}")>

The key is the signing key shown once by `xf intake client signing-key` (its UTF-8 bytes, as printed).
Several `v1,` signatures may be given, separated by spaces; one that verifies is enough. A signature
proves who wrote the bytes; the timestamp, compared with the time the broker appended the record, stops
an old signed record from being published again later (the event id stops a repeat of an applied one).
Verification is constant-time and never parses the record.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

ID_HEADER = "ce-id"
PARTNER_HEADER = "xf-partner"
TIMESTAMP_HEADER = "xf-timestamp"
SIGNATURE_HEADER = "xf-signature"
VERSION = "v1"
KEY_PREFIX = "xfsk_"
SERVICE_PREFIX = "xinfang/"
# How far a signature's time may lie from the record's append time (either way: clock skew).
TOLERANCE_SECONDS = 300
MAX_HEADER = 2048

Reason = Literal["unsigned", "bad_signature", "unknown_partner", "stale_signature"]
REASONS: tuple[Reason, ...] = ("unsigned", "bad_signature", "unknown_partner", "stale_signature")
Headers = Sequence[tuple[str, bytes]]


class Unverified(Exception):
    """A record whose producer cannot be established; `reason` is one of REASONS."""

    def __init__(self, reason: Reason, message: str) -> None:
        super().__init__(f"{reason}: {message}")
        self.reason: Reason = reason
        self.message = message


def new_key() -> str:
    """A random signing key (256 bits), in the form partners are given it."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


def signature(key: str, event_id: str, timestamp: int, body: bytes) -> str:
    signed = f"{event_id}.{timestamp}.".encode() + body
    digest = hmac.new(key.encode(), signed, hashlib.sha256).digest()
    return f"{VERSION},{base64.b64encode(digest).decode()}"


@dataclass(frozen=True)
class Signer:
    """A producer's identity and key: `headers` are what to add to a record it publishes."""

    name: str
    key: str = field(repr=False)

    def headers(self, event_id: str, body: bytes, *, timestamp: int | None = None) -> dict[str, str]:
        at = int(time.time()) if timestamp is None else timestamp
        return {
            PARTNER_HEADER: self.name,
            TIMESTAMP_HEADER: str(at),
            SIGNATURE_HEADER: signature(self.key, event_id, at, body),
        }


def service_signer(service: str, key: str) -> Signer:
    return Signer(SERVICE_PREFIX + service, key)


def is_service(partner: str) -> bool:
    return partner.startswith(SERVICE_PREFIX)


@dataclass(frozen=True)
class Signed:
    """The signature headers of a record, read but not yet checked."""

    partner: str
    event_id: str
    timestamp: int
    signatures: tuple[str, ...]


def read_headers(headers: Headers | Mapping[str, bytes | str] | None) -> Signed:
    """The signature headers, or Unverified("unsigned"/"bad_signature") when absent or ill-formed."""
    found: dict[str, str] = {}
    items = headers.items() if isinstance(headers, Mapping) else (headers or ())
    for name, value in items:
        if name in (ID_HEADER, PARTNER_HEADER, TIMESTAMP_HEADER, SIGNATURE_HEADER):
            raw = value if isinstance(value, bytes) else str(value).encode()
            if len(raw) > MAX_HEADER or name in found:
                raise Unverified("bad_signature", f"header {name} repeated or longer than {MAX_HEADER} bytes")
            try:
                found[name] = raw.decode("ascii")
            except UnicodeDecodeError:
                raise Unverified("bad_signature", f"header {name} is not ASCII") from None
    if PARTNER_HEADER not in found or SIGNATURE_HEADER not in found:
        raise Unverified("unsigned", f"no {PARTNER_HEADER} and {SIGNATURE_HEADER} headers")
    if ID_HEADER not in found or TIMESTAMP_HEADER not in found:
        raise Unverified("bad_signature", f"a signed record needs the {ID_HEADER} and {TIMESTAMP_HEADER} headers")
    stamp = found[TIMESTAMP_HEADER]
    if not stamp.isdigit() or len(stamp) > 12:
        raise Unverified("bad_signature", f"{TIMESTAMP_HEADER} is not a number of seconds")
    return Signed(found[PARTNER_HEADER], found[ID_HEADER], int(stamp), tuple(found[SIGNATURE_HEADER].split()))


def verify(
    signed: Signed,
    body: bytes,
    keys: Iterable[str],
    *,
    appended_at: float,
    tolerance: float = TOLERANCE_SECONDS,
) -> None:
    """Raise Unverified unless one of `signed.signatures` is that of one of `keys` (a partner's current
    and, while a rotation's grace lasts, previous key) and was made within `tolerance` of `appended_at`
    (seconds since the epoch: when the broker appended the record)."""
    expected = [signature(key, signed.event_id, signed.timestamp, body).encode() for key in keys]
    if not expected:
        raise Unverified("unknown_partner", f"{signed.partner!r} has no signing key")
    matched = False
    for given in signed.signatures:
        for candidate in expected:
            # Every pair is compared (no early exit), so the time taken says nothing about a near miss.
            matched |= hmac.compare_digest(given.encode(), candidate)
    if not matched:
        raise Unverified("bad_signature", f"the signature is not {signed.partner!r}'s for this record")
    if abs(appended_at - signed.timestamp) > tolerance:
        raise Unverified(
            "stale_signature",
            f"signed at {signed.timestamp}, appended at {int(appended_at)}: more than {int(tolerance)} s apart",
        )


LOG_APPEND_TIME = 1  # a Kafka record's timestamp_type when the broker stamped it


def appended_at(timestamp_ms: int | None, timestamp_type: int | None) -> float:
    """When the broker appended a record (seconds): its timestamp on the partner topics, which use
    LogAppendTime (services.common.topics); a producer-chosen time is not trusted, the clock is."""
    if timestamp_type == LOG_APPEND_TIME and timestamp_ms is not None and timestamp_ms > 0:
        return timestamp_ms / 1000
    return time.time()


def event_id_of(headers: Headers | None) -> str | None:
    """The `ce-id` header, if there is a sane one (to name a refused record in its dead letter)."""
    for name, value in headers or ():
        if name == ID_HEADER and 0 < len(value) <= 200:
            return value.decode("ascii", errors="replace")
    return None


def signed_or_refusal(headers: Headers | None) -> Signed | Unverified:
    try:
        return read_headers(headers)
    except Unverified as refusal:
        return refusal
