"""The one owner of the client registry's tables (intake's schema: `clients`, `api_keys`, with the Kafka
signing keys): API clients, their API keys and signing keys. Scopes are in scopes.py, key format in keys.py.

Revoking is immediate: every request looks its key up (one primary-key read), nothing is cached.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import asyncpg

from services.access.keys import DEV_KEY_ID, IssuedKey, key_from_token, new_key, parse_key_id, secret_matches
from services.access.scopes import Client, ClientSpecInvalid, check_client
from services.common import signing
from services.common.db import Conn
from services.common.schemas import CHANNELS

DEV_CLIENT = "dev"


class ClientExists(ClientSpecInvalid):
    pass


class UnknownClient(LookupError):
    pass


@dataclass(frozen=True)
class KeyInfo:
    key_id: str
    created_at: datetime
    revoked_at: datetime | None


@dataclass(frozen=True)
class ClientInfo:
    client: Client
    note: str
    created_at: datetime
    revoked_at: datetime | None
    keys: tuple[KeyInfo, ...]
    signing_key_created_at: datetime | None = None


@dataclass(frozen=True)
class Partner:
    """An active client that signs what it publishes on Kafka, with the keys its signatures may use."""

    client: Client
    keys: tuple[str, ...] = field(repr=False)


def _client(row: asyncpg.Record) -> Client:
    return Client(
        name=row["name"],
        role=row["role"],
        channels=frozenset(row["channels"]),
        submit_scope=tuple(row["submit_scope"]),
        read_scope=tuple(row["read_scope"]),
        sources=tuple(row["sources"]),
    )


async def create_client(conn: Conn, client: Client, *, note: str = "") -> IssuedKey:
    """Register a client and issue its first key."""
    check_client(client)
    async with conn.transaction():
        inserted = await conn.fetchval(
            """INSERT INTO clients (name, role, channels, submit_scope, read_scope, sources, note)
               VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (name) DO NOTHING RETURNING name""",
            client.name,
            client.role,
            sorted(client.channels),
            list(client.submit_scope),
            list(client.read_scope),
            list(client.sources),
            note,
        )
        if inserted is None:
            raise ClientExists(f"a client named {client.name!r} exists already (revoked ones keep their name)")
        return await _insert_key(conn, client.name, new_key())


async def issue_key(conn: Conn, name: str) -> IssuedKey:
    """Another key for an active client: rotate by issuing one, switching over, revoking the old."""
    active = await conn.fetchval("SELECT revoked_at IS NULL FROM clients WHERE name = $1", name)
    if not active:
        raise UnknownClient(f"no active client named {name!r}")
    return await _insert_key(conn, name, new_key())


async def _insert_key(conn: Conn, name: str, key: IssuedKey) -> IssuedKey:
    await conn.execute(
        "INSERT INTO api_keys (key_id, client, secret_hash) VALUES ($1, $2, $3)", key.key_id, name, key.secret_hash
    )
    return key


async def revoke_client(conn: Conn, name: str) -> bool:
    """Revoke the client and every key of it; False when there was no active client of that name."""
    async with conn.transaction():
        done = await conn.fetchval(
            "UPDATE clients SET revoked_at = now() WHERE name = $1 AND revoked_at IS NULL RETURNING name", name
        )
        await conn.execute("UPDATE api_keys SET revoked_at = now() WHERE client = $1 AND revoked_at IS NULL", name)
    return done is not None


async def revoke_key(conn: Conn, key_id: str) -> bool:
    done = await conn.fetchval(
        "UPDATE api_keys SET revoked_at = now() WHERE key_id = $1 AND revoked_at IS NULL RETURNING key_id", key_id
    )
    return done is not None


async def list_clients(conn: Conn) -> list[ClientInfo]:
    rows = await conn.fetch("SELECT * FROM clients ORDER BY name")
    keys = await conn.fetch("SELECT key_id, client, created_at, revoked_at FROM api_keys ORDER BY created_at")
    by_client: dict[str, list[KeyInfo]] = {}
    for key in keys:
        by_client.setdefault(key["client"], []).append(KeyInfo(key["key_id"], key["created_at"], key["revoked_at"]))
    return [
        ClientInfo(
            _client(row),
            row["note"],
            row["created_at"],
            row["revoked_at"],
            tuple(by_client.get(row["name"], ())),
            row["signing_key_created_at"] if row["signing_key"] else None,
        )
        for row in rows
    ]


async def authenticate(conn: Conn, token: str) -> Client | None:
    """The active client holding this active key, else None."""
    key_id = parse_key_id(token)
    if key_id is None:
        return None
    row = await conn.fetchrow(
        """SELECT c.*, k.secret_hash FROM api_keys k JOIN clients c ON c.name = k.client
           WHERE k.key_id = $1 AND k.revoked_at IS NULL AND c.revoked_at IS NULL""",
        key_id,
    )
    if row is None or not secret_matches(token, row["secret_hash"]):
        return None
    return _client(row)


# --- signing keys (services.common.signing) ------------------------------------------------------


async def new_signing_key(conn: Conn, name: str, *, grace: timedelta = timedelta(0)) -> str:
    """Give an active client a new signing key, returned once (never shown again). The key it had, if
    any, keeps verifying for `grace` (a rotation: the partner switches within it), then not at all."""
    key = signing.new_key()
    done = await conn.fetchval(
        """UPDATE clients SET
               previous_signing_key = CASE WHEN $3 > interval '0' THEN signing_key END,
               previous_signing_key_until = CASE WHEN $3 > interval '0' AND signing_key IS NOT NULL
                                                 THEN now() + $3 END,
               signing_key = $2, signing_key_created_at = now()
           WHERE name = $1 AND revoked_at IS NULL RETURNING name""",
        name,
        key,
        grace,
    )
    if done is None:
        raise UnknownClient(f"no active client named {name!r}")
    return key


async def remove_signing_key(conn: Conn, name: str) -> bool:
    """The client's records are no longer accepted from now on; False when it had no key."""
    done = await conn.fetchval(
        """UPDATE clients SET signing_key = NULL, signing_key_created_at = NULL, previous_signing_key = NULL,
               previous_signing_key_until = NULL
           WHERE name = $1 AND (signing_key IS NOT NULL OR previous_signing_key IS NOT NULL) RETURNING name""",
        name,
    )
    return done is not None


async def signing_partners(conn: Conn, names: Iterable[str]) -> dict[str, Partner]:
    """The active clients among `names` that hold a signing key, with their keys (few per batch)."""
    wanted = sorted(set(names))
    if not wanted:
        return {}
    rows = await conn.fetch(
        """SELECT *, previous_signing_key_until > now() AS previous_valid FROM clients
           WHERE name = ANY($1::text[]) AND revoked_at IS NULL AND signing_key IS NOT NULL""",
        wanted,
    )
    return {
        row["name"]: Partner(
            _client(row),
            (row["signing_key"], *((row["previous_signing_key"],) if row["previous_valid"] else ())),
        )
        for row in rows
    }


async def ensure_dev_client(conn: Conn, token: str | None, signing_key: str | None = None) -> None:
    """The development client `dev` (every channel, the whole country) with the API key and the Kafka
    signing key from the settings; with no API key configured, the client and all its keys are revoked
    (a revoked client's signatures are refused too)."""
    async with conn.transaction():
        if not token:
            await revoke_client(conn, DEV_CLIENT)
            return
        key = key_from_token(token)
        if key.key_id != DEV_KEY_ID:
            raise ClientSpecInvalid(f"the development key must have the key id {DEV_KEY_ID!r}: xfk_dev_<secret>")
        await conn.execute(
            """INSERT INTO clients (name, role, channels, submit_scope, read_scope, sources, note)
               VALUES ($1, 'upstream', $2, '{000000}', '{000000}', '{*}', 'development client (XF_INTAKE_DEV_API_KEY)')
               ON CONFLICT (name) DO UPDATE SET revoked_at = NULL, role = 'upstream',
                   channels = excluded.channels, submit_scope = excluded.submit_scope,
                   read_scope = excluded.read_scope, sources = excluded.sources""",
            DEV_CLIENT,
            list(CHANNELS),
        )
        await conn.execute(
            """INSERT INTO api_keys (key_id, client, secret_hash) VALUES ($1, $2, $3)
               ON CONFLICT (key_id) DO UPDATE SET client = excluded.client, secret_hash = excluded.secret_hash,
                   revoked_at = NULL""",
            DEV_KEY_ID,
            DEV_CLIENT,
            key.secret_hash,
        )
        await conn.execute(
            """UPDATE clients SET signing_key = $2, signing_key_created_at = now(), previous_signing_key = NULL,
                   previous_signing_key_until = NULL
               WHERE name = $1 AND signing_key IS DISTINCT FROM $2""",
            DEV_CLIENT,
            signing_key or None,
        )
