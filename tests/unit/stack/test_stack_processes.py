"""Pid files, ownership checks and log tails, exercised without starting any process."""

from __future__ import annotations

import os
import signal
import socket
from pathlib import Path

import pytest

from services.common.settings import Settings
from services.stack import apps, processes
from services.stack.errors import StackError
from services.stack.ports import listening_inodes, port_is_free


def write_pid(stack_dir: Path, name: str, pid: int | str) -> None:
    processes.pid_file(stack_dir, name).parent.mkdir(parents=True, exist_ok=True)
    processes.pid_file(stack_dir, name).write_text(f"{pid}\n")


def test_a_live_pid_counts_only_with_our_marker(tmp_path: Path) -> None:
    write_pid(tmp_path, "kafka", os.getpid())  # this test process: alive, but not a broker
    assert processes.running_pid(tmp_path, "kafka", "kafka.Kafka /nowhere/server.properties") is None
    own_command_line = processes.command_line(os.getpid())
    assert own_command_line is not None
    assert processes.running_pid(tmp_path, "kafka", own_command_line.split()[0]) == os.getpid()


def test_garbage_or_missing_pid_files_mean_not_running(tmp_path: Path) -> None:
    assert processes.running_pid(tmp_path, "postgres", "postgres") is None
    write_pid(tmp_path, "postgres", "not a number")
    assert processes.running_pid(tmp_path, "postgres", "postgres") is None


def test_stop_never_signals_a_process_that_is_not_ours(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_pid(tmp_path, "prometheus", os.getpid())
    signals: list[tuple[int, int]] = []
    monkeypatch.setattr("os.kill", lambda pid, sig: signals.append((pid, sig)))
    assert processes.stop(tmp_path, "prometheus", "--config.file=/elsewhere", stop_signal=signal.SIGTERM) is False
    assert signals == []
    assert not processes.pid_file(tmp_path, "prometheus").exists()


def test_wait_until_ready_reports_a_dead_process_with_its_log(tmp_path: Path) -> None:
    log = processes.log_file(tmp_path, "kafka")
    log.parent.mkdir(parents=True)
    log.write_text("starting\nERROR Address already in use\n")
    with pytest.raises(StackError, match=r"(?s)kafka exited before it was ready.*Address already in use"):
        processes.wait_until_ready("kafka", lambda: False, stack_dir=tmp_path, marker="x", timeout=5)


def test_wait_until_ready_returns_when_ready(tmp_path: Path) -> None:
    assert processes.wait_until_ready("kafka", lambda: True, stack_dir=tmp_path, marker="x", timeout=1) >= 0


def test_tail_returns_the_last_lines(tmp_path: Path) -> None:
    path = tmp_path / "log"
    path.write_text("".join(f"line {n}\n" for n in range(1000)))
    assert processes.tail(path, 3) == "line 997\nline 998\nline 999"
    assert processes.tail(tmp_path / "missing") == ""


def test_port_is_free_sees_a_listener() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        assert not port_is_free("127.0.0.1", port)
    assert port_is_free("127.0.0.1", port)


def test_listening_inodes_reads_proc_net_tcp() -> None:
    table = (
        "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
        "   0: 0100007F:7274 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4242 1\n"
        "   1: 0100007F:7274 0100007F:9C40 01 00000000:00000000 00:00000000 00000000     0        0 4343 1\n"
        "   2: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4444 1\n"
    )
    assert listening_inodes(table, 29300) == {"4242"}  # 0x7274; the established connection is not counted


def test_apps_get_the_settings_as_xf_variables(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = Settings(stack_dir=tmp_path, kafka_port=29092, pg_port=35432, intake_port=28001)
    env = apps.settings_environment(settings)
    assert env["XF_KAFKA_PORT"] == "29092"
    assert env["XF_PG_PORT"] == "35432"
    assert env["XF_INTAKE_PORT"] == "28001"
    assert env["XF_STACK_DIR"] == str(tmp_path)
    assert "XF_DATABASE_URL" not in env  # None: each service builds it from the parts
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert Settings() == settings  # what a service reads back is what the stack had
