"""Protecting the petitioner: keyed pseudonyms, encryption at rest, redaction for logs.

Pseudonym (`petitioner_key`): `p1_` + HMAC-SHA256(key, source || value), hex. `p1` names this scheme
(inputs, normalisation, HMAC-SHA256); a changed scheme gets a new prefix. The source is, in order:
a person's identity number; else their phone with their name (so two people sharing a phone
differ); else name with address (letters); an organisation's credit code; else its name. Names and
addresses are NFKC-normalised, case-folded and stripped of whitespace. The key is the deployment's
`XF_PSEUDONYM_KEY`; changing it breaks the link to every earlier case, so it is not rotated.
An anonymous petitioner, or a person with nothing stable to key on, gets `a1_` + 256 random bits:
a fresh key per case, so an anonymous case is never linked to another (nobody can be traced
through it, and it always counts as first-time). The store keeps it with the case, so redelivery of
the same case does not mint a second one.

Vault: AES-256-GCM with the key id in the token, not MultiFernet. The key id says which key to use
(no trial decryption), gives a precise error for a retired key, and lets an operator find the rows
still under an old key (`LIKE 'xv1:k1:%'`) before dropping it. GCM also authenticates associated
data: the caller passes a context (e.g. the case id) that must match on decryption, so a ciphertext
copied to another case's row does not decrypt. Fernet has no associated data.
Token: `xv1:<key id>:<base64url(12-byte random nonce || ciphertext || tag)>`. Random 96-bit nonces
are safe far beyond this system's volume per key (NIST's 2**32 messages per key).
Keys: `XF_VAULT_KEYS="k2:<base64 of 32 bytes>,k1:<base64>"`; the first encrypts, all decrypt.
Rotation: put the new key first, `rotate` every stored token, then drop the old key.
`seal_personal` puts all of a case's personal data (petitioner, location address, content) in one
token bound to the case id; `open_personal` reads it back.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import re
import secrets
from collections.abc import Mapping, Sequence

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from pydantic import BaseModel, ConfigDict

from services.intake.identity import find_identifiers, fold, normalise_phone
from services.intake.submission import Anonymous, Organisation, Person, Petitioner, Submission

PSEUDONYM_PREFIX = "p1_"
ANONYMOUS_PREFIX = "a1_"
MIN_PSEUDONYM_KEY_BYTES = 16
VAULT_ENV = "XF_VAULT_KEYS"
_TOKEN_VERSION = "xv1"
_KEY_ID = re.compile(r"^[A-Za-z0-9_.-]{1,32}$")
_NONCE_BYTES = 12
_KEY_BYTES = 32


def petitioner_key(key: bytes, petitioner: Person | Organisation | Anonymous) -> str:
    if len(key) < MIN_PSEUDONYM_KEY_BYTES:
        raise ValueError(f"the pseudonym key must have at least {MIN_PSEUDONYM_KEY_BYTES} bytes")
    parts = _pseudonym_source(petitioner)
    if parts is None:
        return ANONYMOUS_PREFIX + secrets.token_hex(32)
    message = "\x00".join(parts).encode()
    return PSEUDONYM_PREFIX + hmac.new(key, message, hashlib.sha256).hexdigest()


def is_anonymous_key(petitioner_key: str) -> bool:
    return petitioner_key.startswith(ANONYMOUS_PREFIX)


def _pseudonym_source(petitioner: Person | Organisation | Anonymous) -> tuple[str, ...] | None:
    if isinstance(petitioner, Person):
        if petitioner.id_number:
            return ("id", petitioner.id_number.upper())
        if petitioner.phone:
            return ("phone+name", normalise_phone(petitioner.phone), fold(petitioner.name))
        if petitioner.address:
            return ("name+address", fold(petitioner.name), fold(petitioner.address))
        return None
    if isinstance(petitioner, Organisation):
        if petitioner.credit_code:
            return ("credit_code", petitioner.credit_code.upper())
        return ("organisation_name", fold(petitioner.organisation_name))
    return None


_MASKS = {"id_number": "[id_number]", "phone": "[phone]", "email": "[email]"}


def redact(text: str) -> str:
    """`text` with identity numbers, phone numbers and e-mail addresses masked, for logs."""
    pieces: list[str] = []
    position = 0
    for found in find_identifiers(text):
        pieces.append(text[position : found.start])
        pieces.append(_MASKS[found.kind])
        position = found.end
    pieces.append(text[position:])
    return "".join(pieces)


class VaultError(Exception):
    pass


class VaultConfigError(VaultError):
    pass


class UnknownVaultKey(VaultError):
    def __init__(self, key_id: str) -> None:
        super().__init__(f"no vault key with id {key_id!r} is configured")
        self.key_id = key_id


class VaultDecryptError(VaultError):
    """Malformed token, wrong context, or tampered ciphertext: the vault cannot tell which."""


class Vault:
    def __init__(self, keys: Sequence[tuple[str, bytes]]) -> None:
        if not keys:
            raise VaultConfigError("the vault needs at least one key")
        self._keys: dict[str, AESGCM] = {}
        for key_id, key in keys:
            if not _KEY_ID.match(key_id):
                raise VaultConfigError(f"bad vault key id {key_id!r}: 1-32 of A-Z a-z 0-9 _ . -")
            if key_id in self._keys:
                raise VaultConfigError(f"vault key id {key_id!r} given twice")
            if len(key) != _KEY_BYTES:
                raise VaultConfigError(f"vault key {key_id!r} must be {_KEY_BYTES} bytes, not {len(key)}")
            self._keys[key_id] = AESGCM(key)
        self.current_key_id = keys[0][0]

    @classmethod
    def from_spec(cls, spec: str) -> Vault:
        """Keys from `"k2:<base64>,k1:<base64>"` (standard or URL-safe base64)."""
        keys: list[tuple[str, bytes]] = []
        for item in spec.split(","):
            if not item.strip():
                continue
            key_id, separator, encoded = item.strip().partition(":")
            if not separator:
                raise VaultConfigError("each vault key is written <key id>:<base64 key>")
            try:
                key = base64.b64decode(encoded.strip().replace("-", "+").replace("_", "/"), validate=True)
            except binascii.Error:
                raise VaultConfigError(f"vault key {key_id!r} is not valid base64") from None
            keys.append((key_id.strip(), key))
        return cls(keys)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Vault:
        spec = (os.environ if environ is None else environ).get(VAULT_ENV, "")
        if not spec.strip():
            raise VaultConfigError(f"{VAULT_ENV} is not set")
        return cls.from_spec(spec)

    @property
    def key_ids(self) -> tuple[str, ...]:
        return tuple(self._keys)

    def encrypt(self, plaintext: str, *, context: str = "") -> str:
        nonce = secrets.token_bytes(_NONCE_BYTES)
        sealed = self._keys[self.current_key_id].encrypt(
            nonce, plaintext.encode(), _associated(self.current_key_id, context)
        )
        body = base64.urlsafe_b64encode(nonce + sealed).rstrip(b"=").decode()
        return f"{_TOKEN_VERSION}:{self.current_key_id}:{body}"

    def decrypt(self, token: str, *, context: str = "") -> str:
        key_id, raw = _split(token)
        cipher = self._keys.get(key_id)
        if cipher is None:
            raise UnknownVaultKey(key_id)
        try:
            plaintext = cipher.decrypt(raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], _associated(key_id, context))
        except InvalidTag:
            raise VaultDecryptError("ciphertext does not authenticate (tampered, or wrong context)") from None
        return plaintext.decode()

    def rotate(self, token: str, *, context: str = "") -> str:
        """The token under the current key; unchanged when it already is."""
        if key_id_of(token) == self.current_key_id:
            return token
        return self.encrypt(self.decrypt(token, context=context), context=context)

    def needs_rotation(self, token: str) -> bool:
        return key_id_of(token) != self.current_key_id


def key_id_of(token: str) -> str:
    return _split(token)[0]


def generate_vault_key() -> str:
    """A new key in the form `XF_VAULT_KEYS` expects (after `<key id>:`)."""
    return base64.b64encode(secrets.token_bytes(_KEY_BYTES)).decode()


def _associated(key_id: str, context: str) -> bytes:
    return f"{_TOKEN_VERSION}\x00{key_id}\x00{context}".encode()


def _split(token: str) -> tuple[str, bytes]:
    version, _, rest = token.partition(":")
    key_id, _, body = rest.partition(":")
    if version != _TOKEN_VERSION or not _KEY_ID.match(key_id) or not body:
        raise VaultDecryptError("not a vault token")
    try:
        raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
    except (binascii.Error, ValueError):
        raise VaultDecryptError("not a vault token") from None
    if len(raw) < _NONCE_BYTES + 16:
        raise VaultDecryptError("not a vault token")
    return key_id, raw


class PersonalRecord(BaseModel):
    """What intake keeps of a case only in encrypted form: everything that identifies someone."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    petitioner: Petitioner
    location_address: str | None = None
    content: str


def personal_record(submission: Submission) -> PersonalRecord:
    return PersonalRecord(
        petitioner=submission.petitioner,
        location_address=submission.location.address,
        content=submission.content,
    )


def seal_personal(vault: Vault, submission: Submission, *, case_id: str) -> str:
    """One vault token for the case's personal data, bound to `case_id`."""
    return vault.encrypt(personal_record(submission).model_dump_json(), context=case_id)


def open_personal(vault: Vault, token: str, *, case_id: str) -> PersonalRecord:
    return PersonalRecord.model_validate_json(vault.decrypt(token, context=case_id))
