"""API keys: `xfk_<key id>_<secret>`, issued once and stored as a hash (services.access.registry).

The key id is public (it finds the row, and an operator can name a key to revoke it); the secret is 32
random bytes, of which only the SHA-256 is stored. A slow password hash buys nothing for a 256-bit
random secret, and a fast one keeps a lookup per request cheap.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass, field

from services.access.scopes import ClientSpecInvalid

KEY_PREFIX = "xfk_"
HASH_SCHEME = "sha256:"
DEV_KEY_ID = "dev"
_KEY_ID = re.compile(r"^[a-z0-9]{1,32}$")


@dataclass(frozen=True)
class IssuedKey:
    """A new key: `token` is shown once and never stored."""

    key_id: str
    token: str
    secret_hash: str = field(repr=False)


def new_key(key_id: str | None = None) -> IssuedKey:
    key_id = key_id or secrets.token_hex(6)
    token = f"{KEY_PREFIX}{key_id}_{secrets.token_urlsafe(32)}"
    return IssuedKey(key_id, token, hash_secret(token))


def key_from_token(token: str) -> IssuedKey:
    """An `IssuedKey` for a token chosen elsewhere (the development key in the settings)."""
    key_id = parse_key_id(token)
    if key_id is None:
        raise ClientSpecInvalid(f"an API key looks like {KEY_PREFIX}<key id>_<secret>")
    return IssuedKey(key_id, token, hash_secret(token))


def parse_key_id(token: str) -> str | None:
    """The key id of a well-formed token, else None (the caller answers 401 without a lookup)."""
    if not token.startswith(KEY_PREFIX):
        return None
    key_id, separator, secret = token[len(KEY_PREFIX) :].partition("_")
    if not separator or not _KEY_ID.match(key_id) or len(secret) < 16 or len(token) > 256:
        return None
    return key_id


def hash_secret(token: str) -> str:
    return HASH_SCHEME + hashlib.sha256(token.encode()).hexdigest()


def secret_matches(token: str, stored_hash: str) -> bool:
    return hmac.compare_digest(hash_secret(token), stored_hash)
