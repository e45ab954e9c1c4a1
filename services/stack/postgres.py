"""PostgreSQL for the local stack: a private cluster in `<stack_dir>/postgres`.

initdb runs once (UTF8, locale C). Authentication: `trust` on the cluster's unix socket, which lives
in the data directory (mode 0700, so only the server's own account can reach it) and is used by the
stack to create the role and database; `scram-sha-256` over TCP, where the services connect as
`XF_PG_USER` with `XF_PG_PASSWORD`. PostgreSQL refuses to run as root, so when we are root the
server runs as the `postgres` system account, which must be able to reach the stack directory.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import stat
import subprocess
from pathlib import Path

import asyncpg

from services.common.settings import Settings
from services.stack import processes
from services.stack.aio import run_sync
from services.stack.errors import StackError
from services.stack.part import Part, Port

SERVER_ACCOUNT = "postgres"  # the OS account used when we are root; also the cluster's superuser
START_TIMEOUT = 60.0
UNIX_SOCKET_PATH_MAX = 107  # sun_path is 108 bytes with the terminating NUL
INSTALL_HINT = "install it (apt-get install postgresql) or run scripts/bootstrap"


def find_bindir() -> Path:
    """The folder with initdb and postgres: `pg_config --bindir`, else the newest /usr/lib/postgresql/*."""
    candidates: list[Path] = []
    pg_config = shutil.which("pg_config")
    if pg_config is not None:
        result = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, check=False)
        if result.returncode == 0:
            candidates.append(Path(result.stdout.strip()))
    candidates += sorted(
        (Path(p) for p in glob.glob("/usr/lib/postgresql/*/bin")),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
        reverse=True,
    )
    for bindir in candidates:
        if (bindir / "initdb").exists() and (bindir / "postgres").exists():
            return bindir
    raise StackError(f"PostgreSQL server binaries (initdb, postgres) not found: {INSTALL_HINT}")


def server_account() -> str | None:
    """The account to run the server as: None (ourselves) unless we are root."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam(SERVER_ACCOUNT)
    except KeyError:
        raise StackError(
            f"running as root and there is no '{SERVER_ACCOUNT}' account to run PostgreSQL as: {INSTALL_HINT}"
        ) from None
    return SERVER_ACCOUNT


def data_dir(settings: Settings) -> Path:
    return settings.stack_dir / "postgres"


def socket_path(settings: Settings) -> Path:
    return data_dir(settings) / f".s.PGSQL.{settings.pg_port}"


def blocked_ancestor(path: Path, uid: int, gids: list[int]) -> Path | None:
    """The first existing ancestor of `path` that the account (uid, gids) cannot enter, if any."""
    for folder in reversed([path, *path.parents]):
        try:
            info = folder.stat()
        except FileNotFoundError:
            return None  # we create the rest ourselves, readable by all
        if info.st_uid == uid:
            allowed = info.st_mode & stat.S_IXUSR
        elif info.st_gid in gids:
            allowed = info.st_mode & stat.S_IXGRP
        else:
            allowed = info.st_mode & stat.S_IXOTH
        if not allowed:
            return folder
    return None


def preflight(settings: Settings) -> None:
    find_bindir()
    account = server_account()
    if len(str(socket_path(settings))) > UNIX_SOCKET_PATH_MAX:
        raise StackError(
            f"the stack directory {settings.stack_dir} is too long for PostgreSQL's unix socket; "
            "choose a shorter XF_STACK_DIR"
        )
    if account is not None:
        entry = pwd.getpwnam(account)
        blocked = blocked_ancestor(settings.stack_dir, entry.pw_uid, os.getgrouplist(account, entry.pw_gid))
        if blocked is not None:
            raise StackError(
                f"the '{account}' account cannot enter {blocked}, so PostgreSQL cannot use "
                f"{data_dir(settings)}: chmod o+x {blocked} or choose another XF_STACK_DIR"
            )


def is_initialised(settings: Settings) -> bool:
    return (data_dir(settings) / "PG_VERSION").exists()


def initdb(settings: Settings, bindir: Path, account: str | None) -> None:
    folder = data_dir(settings)
    folder.mkdir(parents=True, exist_ok=True)
    if account is not None:
        entry = pwd.getpwnam(account)
        os.chown(folder, entry.pw_uid, entry.pw_gid)
    folder.chmod(0o700)
    result = subprocess.run(
        [
            str(bindir / "initdb"),
            "-D",
            str(folder),
            "-U",
            SERVER_ACCOUNT,
            "--encoding=UTF8",
            "--locale=C",
            "--auth-local=trust",
            "--auth-host=scram-sha-256",
        ],
        capture_output=True,
        text=True,
        cwd=folder,
        check=False,
        **processes.run_as(account),
    )
    if result.returncode != 0:
        raise StackError(f"initdb failed:\n{result.stdout}{result.stderr}".rstrip())


def server_command(settings: Settings, bindir: Path) -> list[str]:
    return [
        str(bindir / "postgres"),
        "-D",
        str(data_dir(settings)),
        "-p",
        str(settings.pg_port),
        "-c",
        f"listen_addresses={settings.host}",
        "-c",
        f"unix_socket_directories={data_dir(settings)}",
    ]


def start(settings: Settings) -> None:
    bindir = find_bindir()
    account = server_account()
    if not is_initialised(settings):
        initdb(settings, bindir, account)
    processes.start_detached(
        "postgres",
        server_command(settings, bindir),
        stack_dir=settings.stack_dir,
        cwd=data_dir(settings),
        user=account,
    )
    processes.wait_until_ready(
        "postgres",
        lambda: run_sync(accepts_connections(settings)),
        stack_dir=settings.stack_dir,
        marker=marker(settings),
        timeout=START_TIMEOUT,
        what="accepting connections",
    )


async def superuser_connection(settings: Settings) -> asyncpg.Connection:
    """A connection as the cluster's superuser, over the unix socket in the data directory."""
    return await asyncpg.connect(
        host=str(data_dir(settings)),
        port=settings.pg_port,
        user=SERVER_ACCOUNT,
        database="postgres",
        timeout=5,
    )


async def accepts_connections(settings: Settings) -> bool:
    try:
        connection = await superuser_connection(settings)
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError):
        return False  # not listening yet, or "the database system is starting up"
    await connection.close()
    return True


async def ensure_role_and_database(settings: Settings) -> None:
    """Create the role XF_PG_USER (password XF_PG_PASSWORD) and database XF_PG_DATABASE if missing."""
    connection = await superuser_connection(settings)
    try:
        role_exists = await connection.fetchval("SELECT true FROM pg_roles WHERE rolname = $1", settings.pg_user)
        verb = "ALTER" if role_exists else "CREATE"
        # format() quotes on the server; DDL cannot take bind parameters.
        statement = await connection.fetchval(
            f"SELECT format('{verb} ROLE %I WITH LOGIN PASSWORD %L', $1::text, $2::text)",
            settings.pg_user,
            settings.pg_password,
        )
        await connection.execute(statement)
        if not await connection.fetchval("SELECT true FROM pg_database WHERE datname = $1", settings.pg_database):
            statement = await connection.fetchval(
                "SELECT format('CREATE DATABASE %I OWNER %I', $1::text, $2::text)",
                settings.pg_database,
                settings.pg_user,
            )
            await connection.execute(statement)
    finally:
        await connection.close()


def provision(settings: Settings) -> None:
    run_sync(ensure_role_and_database(settings))


def marker(settings: Settings) -> str:
    return f"-D {data_dir(settings)} "


def address(settings: Settings) -> str:
    return (
        f"{settings.host}:{settings.pg_port} "
        f"(postgresql://{settings.pg_user}@{settings.host}:{settings.pg_port}/{settings.pg_database})"
    )


def ports(settings: Settings) -> list[Port]:
    return [Port(settings.pg_port, "XF_PG_PORT")]


PART = Part(
    name="postgres",
    address=address,
    ports=ports,
    marker=marker,
    start=start,
    preflight=preflight,
    provision=provision,
    stop_signal=signal.SIGINT,  # "fast" shutdown; SIGTERM would wait for clients to disconnect
)
