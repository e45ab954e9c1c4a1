"""PostgreSQL access: a pool and versioned SQL migrations applied at start.

Migrations are `NNN_name.sql` files in a service's `migrations/` folder, applied in order, each in
its own transaction, under an advisory lock so that several instances can start at once.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import TypeAlias

import asyncpg
from asyncpg.pool import PoolConnectionProxy

log = logging.getLogger(__name__)

# A plain connection or one borrowed from a pool: the store functions take either.
Conn: TypeAlias = "asyncpg.Connection[asyncpg.Record] | PoolConnectionProxy[asyncpg.Record]"

_MIGRATION = re.compile(r"^(\d{3})_[a-z0-9_]+\.sql$")
_LOCK_ID = 0x78696E66  # "xinf"


async def create_pool(dsn: str, schema: str, *, min_size: int = 1, max_size: int = 10) -> asyncpg.Pool:
    """A pool whose connections work in the service's own schema (services never share tables)."""
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
    finally:
        await conn.close()
    pool = await asyncpg.create_pool(
        dsn,
        min_size=min_size,
        max_size=max_size,
        command_timeout=60,
        server_settings={"search_path": schema},
    )
    assert pool is not None
    return pool


def migration_files(folder: Path) -> list[tuple[int, Path]]:
    found: list[tuple[int, Path]] = []
    for path in sorted(folder.glob("*.sql")):
        match = _MIGRATION.match(path.name)
        if not match:
            raise ValueError(f"{path}: migration names must look like 001_create_cases.sql")
        found.append((int(match.group(1)), path))
    versions = [v for v, _ in found]
    if len(set(versions)) != len(versions):
        raise ValueError(f"{folder}: two migrations share a version number")
    return found


async def migrate(pool: asyncpg.Pool, service: str, folder: Path) -> list[str]:
    """Apply the service's pending migrations; returns the file names applied."""
    applied_now: list[str] = []
    async with pool.acquire() as conn:
        await conn.execute("SELECT pg_advisory_lock($1)", _LOCK_ID)
        try:
            await conn.execute(
                """CREATE TABLE IF NOT EXISTS schema_migrations (
                       service text NOT NULL, version int NOT NULL, name text NOT NULL,
                       applied_at timestamptz NOT NULL DEFAULT now(),
                       PRIMARY KEY (service, version))"""
            )
            done = {
                row["version"]
                for row in await conn.fetch("SELECT version FROM schema_migrations WHERE service=$1", service)
            }
            for version, path in migration_files(folder):
                if version in done:
                    continue
                async with conn.transaction():
                    await conn.execute(path.read_text(encoding="utf-8"))
                    await conn.execute(
                        "INSERT INTO schema_migrations (service, version, name) VALUES ($1, $2, $3)",
                        service,
                        version,
                        path.name,
                    )
                log.info("applied migration %s/%s", service, path.name)
                applied_now.append(path.name)
        finally:
            await conn.execute("SELECT pg_advisory_unlock($1)", _LOCK_ID)
    return applied_now
