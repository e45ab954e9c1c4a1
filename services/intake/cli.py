"""`xf intake …`: operator commands for intake: API clients and keys, vault keys, the outbox."""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import sys
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict
from datetime import timedelta
from typing import Any, TypeVar

import asyncpg

from services.access import registry
from services.access.scopes import ROLES, Client, ClientSpecInvalid, check_client
from services.common.db import Conn
from services.common.regions import official_regions, region_known
from services.common.schemas import CHANNELS
from services.common.settings import get_settings
from services.intake.outbox_retention import OutboxStatus, Retention, describe, drain, outbox_status, purge
from services.intake.privacy import Vault, generate_vault_key
from services.intake.store import open_store, rotate_personal

T = TypeVar("T")


def with_store(work: Callable[[asyncpg.Pool], Awaitable[T]]) -> T:
    async def run() -> T:
        pool = await open_store(get_settings().dsn, max_size=2)
        try:
            return await work(pool)
        finally:
            await pool.close()

    return asyncio.run(run())


def with_conn(work: Callable[[Conn], Awaitable[T]]) -> T:
    """`work` on one connection to intake's store."""

    async def on_pool(pool: asyncpg.Pool) -> T:
        async with pool.acquire() as conn:
            return await work(conn)

    return with_store(on_pool)


def refuse(command: str, message: str, status: int) -> int:
    print(f"xf intake {command}: {message}", file=sys.stderr)
    return status


def new_key(args: argparse.Namespace) -> int:
    print(f"{args.key_id}:{generate_vault_key()}")
    return 0


def split(values: Sequence[str] | None) -> list[str]:
    """`--channel letter,visit --channel phone` → [letter, visit, phone]."""
    return [part.strip() for value in values or () for part in value.split(",") if part.strip()]


def client_add(args: argparse.Namespace) -> int:
    channels = split(args.channel)
    client = Client(
        name=args.name,
        role=args.role,
        channels=frozenset(CHANNELS if channels == ["all"] else channels),
        submit_scope=tuple(split(args.submit)),
        read_scope=tuple(split(args.read)),
        sources=tuple(split(args.source)),
    )
    try:
        check_client(client, known_region=lambda code: region_known(official_regions(), code))
        key = with_conn(lambda conn: registry.create_client(conn, client, note=args.note))
    except ClientSpecInvalid as error:  # also a name taken already
        return refuse("client add", str(error), 2)
    print(f"client {client.name} ({client.role}) created; its API key (shown once, store it now):")
    print(key.token)
    return 0


def client_list(args: argparse.Namespace) -> int:
    for info in with_conn(registry.list_clients):
        client = info.client
        state = f"revoked {info.revoked_at:%Y-%m-%d %H:%M}" if info.revoked_at else "active"
        keys = ", ".join(f"{k.key_id}{' (revoked)' if k.revoked_at else ''}" for k in info.keys) or "-"
        print(f"{client.name}  [{client.role}, {state}]  {info.note}")
        print(f"    channels: {', '.join(sorted(client.channels)) or '-'}")
        print(f"    submit:   {', '.join(client.submit_scope) or '-'}")
        print(f"    read:     {', '.join(client.read_scope) or '-'}")
        if client.sources:
            print(f"    sources:  {', '.join(client.sources)}")
        print(f"    keys:     {keys}")
        if info.signing_key_created_at is not None:
            print(f"    signing key since {info.signing_key_created_at:%Y-%m-%d %H:%M}")
    return 0


def client_revoke(args: argparse.Namespace) -> int:
    if not with_conn(lambda conn: registry.revoke_client(conn, args.name)):
        return refuse("client revoke", f"no active client named {args.name!r}", 1)
    print(f"client {args.name} and all its keys revoked")
    return 0


def key_add(args: argparse.Namespace) -> int:
    try:
        key = with_conn(lambda conn: registry.issue_key(conn, args.name))
    except registry.UnknownClient:
        return refuse("key add", f"no active client named {args.name!r}", 1)
    print(f"new API key for {args.name} (shown once; revoke the old one when switched over):")
    print(key.token)
    return 0


def key_revoke(args: argparse.Namespace) -> int:
    if not with_conn(lambda conn: registry.revoke_key(conn, args.key_id)):
        return refuse("key revoke", f"no active key {args.key_id!r}", 1)
    print(f"key {args.key_id} revoked")
    return 0


# Kafka credentials and ACLs of a partner come from edge-kafka's services.common.kafka_principals.
# >>> The single call site: where that module is absent (before it is merged), nothing is done here.
def kafka_principal(name: str, role: str | None, *, remove: bool = False, replace: bool = False) -> Any:
    """The partner's Kafka client settings (created, or removed with `remove`), or None where the stack
    has no per-partner Kafka credentials (yet)."""
    try:
        principals = importlib.import_module("services.common.kafka_principals")
    except ImportError:
        return None
    settings = get_settings()
    if remove:
        principals.remove_partner_principal(settings, name)
        return None
    if role is None:
        return None
    return principals.add_partner_principal(settings, name, role, replace=replace)


def signing_key_add(args: argparse.Namespace) -> int:
    """A first signing key, or a new one (rotation): the old one keeps verifying for --grace-hours."""
    grace = timedelta(hours=args.grace_hours)
    try:
        key = with_conn(lambda conn: registry.new_signing_key(conn, args.name, grace=grace))
    except registry.UnknownClient:
        return refuse(f"client signing-key {args.signing_command}", f"no active client named {args.name!r}", 1)
    print(f"signing key of {args.name} for the Kafka records it publishes (shown once, store it now):")
    print(key)
    if args.signing_command == "rotate" and grace:
        print(f"its previous key keeps verifying for {args.grace_hours:g} hour(s)")
    options = kafka_principal(args.name, args.kafka_role, replace=args.signing_command == "rotate")
    if options is not None:
        print("its Kafka client settings (aiokafka keyword arguments):")
        print(json.dumps(options))
    return 0


def signing_key_remove(args: argparse.Namespace) -> int:
    if not with_conn(lambda conn: registry.remove_signing_key(conn, args.name)):
        return refuse("client signing-key remove", f"{args.name!r} has no signing key", 1)
    kafka_principal(args.name, None, remove=True)
    print(f"signing key of {args.name} removed: its Kafka records are refused from now on")
    return 0


def vault_rotate(args: argparse.Namespace) -> int:
    vault = Vault.from_spec(get_settings().vault_keys)

    async def rotate_all(pool: asyncpg.Pool) -> int:
        async def rotate_batch() -> int:
            async with pool.acquire() as conn:
                return await rotate_personal(conn, vault, batch=args.batch)

        return await drain(rotate_batch, args.batch)

    print(f"re-encrypted {with_store(rotate_all)} case(s) under vault key {vault.current_key_id}")
    return 0


def outbox(args: argparse.Namespace) -> int:
    """The outbox's status; with --purge, delete the published events past the retention first."""
    retention = Retention.from_settings(get_settings())

    async def work(pool: asyncpg.Pool) -> tuple[int | None, OutboxStatus]:
        purged = await purge(pool, retention) if args.purge else None
        return purged, await outbox_status(pool, retention)

    purged, status = with_store(work)
    if args.json:
        print(json.dumps({**asdict(status), "retention_seconds": retention.seconds, "purged": purged}))
        return 0
    if purged is not None:
        print(f"purged:     {purged}")
    print("\n".join(describe(status, retention)))
    return 0


def register(sub: Any) -> None:
    intake = sub.add_parser("intake", help="intake operator commands: API clients and keys, vault keys, the outbox")
    commands = intake.add_subparsers(dest="intake_command", required=True)

    key = commands.add_parser("new-key", help="print a new vault key for XF_VAULT_KEYS (put it first to rotate)")
    key.add_argument("--key-id", default="k1", help="the key's id, e.g. k2 for the second key")
    key.set_defaults(func=new_key)

    rotate = commands.add_parser(
        "vault-rotate", help="re-encrypt stored personal data under the first key of XF_VAULT_KEYS"
    )
    rotate.add_argument("--batch", type=int, default=500, help="cases per transaction")
    rotate.set_defaults(func=vault_rotate)

    box = commands.add_parser(
        "outbox",
        help="the outbox: pending and published events, their ages, the retention; --purge to purge now",
    )
    box.add_argument(
        "--purge",
        action="store_true",
        help="first delete the published events older than XF_INTAKE_OUTBOX_RETENTION_HOURS (never unpublished ones)",
    )
    box.add_argument("--json", action="store_true", help="print one JSON object (ages in seconds)")
    box.set_defaults(func=outbox)

    client = commands.add_parser("client", help="API clients: add, list, revoke, signing-key")
    client_commands = client.add_subparsers(dest="client_command", required=True)
    add = client_commands.add_parser("add", help="register a client and print its first API key")
    add.add_argument("name", help="e.g. erp-150627 or desk-150627-1 (a-z 0-9 . _ -)")
    add.add_argument("--role", required=True, choices=ROLES, help="upstream, reception or operator")
    add.add_argument(
        "--channel", action="append", help=f"channels it may submit (repeat or comma-separate; 'all'): {CHANNELS}"
    )
    add.add_argument("--submit", action="append", help="submit scope: region codes (subtrees) or unit ids")
    add.add_argument("--read", action="append", help="read scope: region codes (subtrees) or unit ids")
    add.add_argument("--source", action="append", help="upstream only: CloudEvents sources it publishes with")
    add.add_argument("--note", default="", help="free text: who holds the key")
    add.set_defaults(func=client_add)
    listing = client_commands.add_parser("list", help="every client with its scopes and key ids")
    listing.set_defaults(func=client_list)
    revoke = client_commands.add_parser("revoke", help="revoke a client and all its keys at once")
    revoke.add_argument("name")
    revoke.set_defaults(func=client_revoke)
    signing = client_commands.add_parser(
        "signing-key", help="the key a client signs its Kafka records with: add, rotate, remove"
    )
    signing_commands = signing.add_subparsers(dest="signing_command", required=True)
    for name, text in (("add", "give a client a signing key"), ("rotate", "replace a client's signing key")):
        command = signing_commands.add_parser(name, help=f"{text} and print it once")
        command.add_argument("name")
        command.add_argument(
            "--grace-hours",
            type=float,
            default=24.0 if name == "rotate" else 0.0,
            help="how long the previous key keeps verifying (rotate: 24 by default)",
        )
        command.add_argument(
            "--kafka-role",
            choices=("upstream", "unit"),
            help="also create its Kafka credentials and ACLs for this role, where the stack has them",
        )
        command.set_defaults(func=signing_key_add)
    remove = signing_commands.add_parser("remove", help="remove a client's signing key(s): its records are refused")
    remove.add_argument("name")
    remove.set_defaults(func=signing_key_remove)

    keys = commands.add_parser("key", help="API keys of a client: add (rotate), revoke")
    key_commands = keys.add_subparsers(dest="key_command", required=True)
    key_new = key_commands.add_parser("add", help="issue another key for a client (to rotate)")
    key_new.add_argument("name")
    key_new.set_defaults(func=key_add)
    key_old = key_commands.add_parser("revoke", help="revoke one key by its id (the part after xfk_)")
    key_old.add_argument("key_id")
    key_old.set_defaults(func=key_revoke)
