"""PostgreSQL helpers of the local stack that need no server: paths, commands, permissions."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

from services.common.settings import Settings
from services.stack import postgres
from services.stack.errors import StackError


def test_server_listens_on_host_port_with_its_socket_in_the_data_dir(tmp_path: Path) -> None:
    settings = Settings(stack_dir=tmp_path, host="127.0.0.1", pg_port=35432)
    command = postgres.server_command(settings, Path("/usr/lib/postgresql/15/bin"))
    assert command[:3] == ["/usr/lib/postgresql/15/bin/postgres", "-D", str(tmp_path / "postgres")]
    assert "listen_addresses=127.0.0.1" in command
    assert f"unix_socket_directories={tmp_path / 'postgres'}" in command
    assert postgres.marker(settings) in " ".join(command) + " "
    assert postgres.socket_path(settings) == tmp_path / "postgres" / ".s.PGSQL.35432"


def test_marker_does_not_match_a_data_dir_that_only_starts_the_same(tmp_path: Path) -> None:
    settings = Settings(stack_dir=tmp_path)
    other = f"postgres -D {tmp_path}/postgres-old -p 5432"
    assert postgres.marker(settings) not in other


def test_blocked_ancestor_finds_a_folder_others_cannot_enter() -> None:
    # Not under tmp_path: pytest's own base folder is 0700, which is what this function finds.
    with tempfile.TemporaryDirectory(dir="/tmp") as base:
        Path(base).chmod(0o755)
        closed = Path(base) / "closed"
        inner = closed / "stack"
        inner.mkdir(parents=True)
        closed.chmod(0o700)
        stranger_uid, stranger_gids = 65534, [65534]
        if closed.stat().st_uid == stranger_uid:
            pytest.skip("the test runs as the stranger account")
        assert postgres.blocked_ancestor(inner, stranger_uid, stranger_gids) == closed
        assert postgres.blocked_ancestor(inner, os.getuid(), []) is None
        closed.chmod(0o711)
        assert postgres.blocked_ancestor(inner / "not-yet", stranger_uid, stranger_gids) is None


def test_a_stack_dir_too_long_for_the_socket_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(postgres, "find_bindir", lambda: Path("/usr/bin"))
    monkeypatch.setattr(postgres, "server_account", lambda: None)
    settings = Settings(stack_dir=Path("/tmp") / ("x" * 100))
    with pytest.raises(StackError, match="shorter XF_STACK_DIR"):
        postgres.preflight(settings)


def test_missing_server_binaries_say_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("shutil.which", lambda name: None)
    monkeypatch.setattr("glob.glob", lambda pattern: [])
    with pytest.raises(StackError, match=r"not found.*apt-get install postgresql"):
        postgres.find_bindir()
