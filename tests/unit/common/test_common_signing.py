"""Signatures binding a Kafka record to its producer: any change to the id, the time or the body, another
key, a missing or malformed header, or a signature made long before the record was appended is refused."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest

from services.common import signing
from services.common.signing import Signed, Signer, Unverified, read_headers, verify

KEY = signing.new_key()
BODY = b'{"id":"evt-1","data":{"type":"withdrawn"}}'
NOW = 1_780_000_000
ERP = Signer("erp", KEY)
Headers = list[tuple[str, bytes]]


def signed_headers(signer: Signer = ERP, *, event_id: str = "evt-1", body: bytes = BODY) -> Headers:
    headers = signer.headers(event_id, body, timestamp=NOW)
    return [("ce-id", event_id.encode()), *((name, value.encode()) for name, value in headers.items())]


def check(headers: Headers, body: bytes = BODY, keys: tuple[str, ...] = (KEY,), at: float = NOW) -> Signed:
    signed = read_headers(headers)
    verify(signed, body, keys, appended_at=at)
    return signed


def refusal(headers: Headers, body: bytes = BODY, keys: tuple[str, ...] = (KEY,), at: float = NOW) -> str:
    with pytest.raises(Unverified) as refused:
        check(headers, body, keys, at)
    return refused.value.reason


def test_a_signed_record_verifies_and_names_its_partner() -> None:
    signed = check(signed_headers())
    assert (signed.partner, signed.event_id, signed.timestamp) == ("erp", "evt-1", NOW)


def test_the_signature_is_the_documented_hmac() -> None:
    """What a partner writes in any language (README): base64 HMAC-SHA256 of "id.timestamp.body"."""
    digest = hmac.new(KEY.encode(), b"evt-1.%d." % NOW + BODY, hashlib.sha256).digest()
    assert signing.signature(KEY, "evt-1", NOW, BODY) == "v1," + base64.b64encode(digest).decode()


@pytest.mark.parametrize("position", [0, len(BODY) // 2, len(BODY) - 1])
def test_one_byte_changed_in_the_body_is_refused(position: int) -> None:
    tampered = bytearray(BODY)
    tampered[position] ^= 0x01
    assert refusal(signed_headers(), bytes(tampered)) == "bad_signature"


def test_another_id_or_timestamp_is_refused() -> None:
    headers = dict(signed_headers())
    assert refusal([*{**headers, "ce-id": b"evt-2"}.items()]) == "bad_signature"
    assert refusal([*{**headers, "xf-timestamp": str(NOW + 1).encode()}.items()]) == "bad_signature"
    signature = headers["xf-signature"].decode()
    flipped = signature[:-2] + ("A" if signature[-2] != "A" else "B") + signature[-1]
    assert refusal([*{**headers, "xf-signature": flipped.encode()}.items()]) == "bad_signature"


def test_another_partners_key_or_name_is_refused() -> None:
    assert refusal(signed_headers(Signer("erp", signing.new_key()))) == "bad_signature"
    forged_name = dict(signed_headers())
    forged_name["xf-partner"] = b"other"
    with pytest.raises(Unverified) as refused:
        verify(read_headers([*forged_name.items()]), BODY, (), appended_at=NOW)  # "other" has no key
    assert refused.value.reason == "unknown_partner"


def test_a_rotation_keeps_the_previous_key_valid_and_several_signatures_may_be_given() -> None:
    new = signing.new_key()
    assert check(signed_headers(), keys=(new, KEY))
    both = dict(signed_headers())
    both["xf-signature"] = (signing.signature(new, "evt-1", NOW, BODY) + " ").encode() + both["xf-signature"]
    assert check([*both.items()], keys=(KEY,))


def test_an_old_signature_is_refused_as_stale_and_clock_skew_is_tolerated() -> None:
    assert check(signed_headers(), at=NOW + signing.TOLERANCE_SECONDS)
    assert check(signed_headers(), at=NOW - signing.TOLERANCE_SECONDS)
    assert refusal(signed_headers(), at=NOW + signing.TOLERANCE_SECONDS + 1) == "stale_signature"
    assert refusal(signed_headers(), at=NOW + 86_400) == "stale_signature"


def test_missing_or_malformed_headers_are_refused_with_a_reason() -> None:
    headers = dict(signed_headers())
    assert refusal([]) == "unsigned"
    assert refusal([("ce-id", b"evt-1")]) == "unsigned"
    assert refusal([*{k: v for k, v in headers.items() if k != "xf-signature"}.items()]) == "unsigned"
    assert refusal([*{k: v for k, v in headers.items() if k != "xf-timestamp"}.items()]) == "bad_signature"
    assert refusal([*{**headers, "xf-timestamp": b"-5"}.items()]) == "bad_signature"
    assert refusal([*{**headers, "xf-timestamp": b"1e9"}.items()]) == "bad_signature"
    assert refusal([*{**headers, "xf-partner": "名".encode()}.items()]) == "bad_signature"
    assert refusal([*{**headers, "xf-signature": b"v1," + b"A" * 5000}.items()]) == "bad_signature"
    assert refusal([*headers.items(), ("xf-partner", b"other")]) == "bad_signature"  # a header given twice


def test_the_broker_append_time_is_trusted_only_when_the_broker_set_it() -> None:
    assert signing.appended_at(1_780_000_000_500, signing.LOG_APPEND_TIME) == 1_780_000_000.5
    producer_chosen = signing.appended_at(1_000, 0)
    assert producer_chosen > 1_700_000_000  # the clock, not the producer's claim


def test_services_sign_under_names_no_client_can_have() -> None:
    tracker = signing.service_signer("tracker", KEY)
    assert tracker.name == "xinfang/tracker" and signing.is_service(tracker.name)
    assert not signing.is_service("erp")
