"""up/down/status and the `xf stack` command line, with fake parts: nothing is started."""

from __future__ import annotations

import argparse
import socket
from collections.abc import Callable
from pathlib import Path

import pytest

from services.common.settings import Settings
from services.stack import cli
from services.stack.errors import StackError
from services.stack.part import Part, Port
from services.stack.stack import ALL_PARTS, down, select, status, up


def fake_part(name: str, calls: list[str], port: int = 0, preflight: Callable[[Settings], None] | None = None) -> Part:
    def start(settings: Settings) -> None:
        calls.append(f"start {name}")

    def provision(settings: Settings) -> None:
        calls.append(f"provision {name}")

    def no_checks(settings: Settings) -> None:
        calls.append(f"preflight {name}")

    return Part(
        name=name,
        address=lambda settings: f"{name}-address",
        ports=lambda settings: [Port(port, f"XF_{name.upper()}_PORT")] if port else [],
        marker=lambda settings: f"fake-{name}-marker",
        start=start,
        preflight=preflight or no_checks,
        provision=provision,
    )


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(stack_dir=tmp_path)


def test_select_keeps_dependency_order_and_refuses_unknown_names() -> None:
    assert [part.name for part in select(["tracker", "kafka", "postgres"])] == ["kafka", "postgres", "tracker"]
    with pytest.raises(StackError, match="unknown part"):
        select(["kafka", "zookeeper"])


def test_up_checks_everything_first_then_starts_in_order(settings: Settings) -> None:
    calls: list[str] = []
    catalog = {name: fake_part(name, calls) for name in ("a", "b")}
    lines: list[str] = []
    up(settings, ["b", "a"], catalog=catalog, report=lines.append)
    assert calls == ["preflight a", "preflight b", "start a", "provision a", "start b", "provision b"]
    assert lines[0].startswith("a ") and "started in" in lines[0] and "a-address" in lines[0]
    assert str(settings.stack_dir / "logs" / "a.log") in lines[0]


def test_a_failed_check_starts_nothing(settings: Settings) -> None:
    calls: list[str] = []

    def missing(settings: Settings) -> None:
        raise StackError("prometheus not found: install it")

    catalog = {"a": fake_part("a", calls), "b": fake_part("b", calls, preflight=missing)}
    with pytest.raises(StackError, match="not found"):
        up(settings, ["a", "b"], catalog=catalog, report=lambda line: None)
    assert not any(call.startswith("start") for call in calls)


def test_a_port_taken_by_a_stranger_is_an_error_naming_the_setting(settings: Settings) -> None:
    calls: list[str] = []
    with socket.socket() as stranger:
        stranger.bind((settings.host, 0))
        stranger.listen()
        port = stranger.getsockname()[1]
        catalog = {"a": fake_part("a", calls, port=port)}
        with pytest.raises(StackError, match=rf"port {settings.host}:{port} is taken .* XF_A_PORT="):
            up(settings, ["a"], catalog=catalog, report=lambda line: None)
    assert "start a" not in calls


def test_down_goes_in_reverse_order_and_says_what_was_not_running(settings: Settings) -> None:
    catalog = {name: fake_part(name, []) for name in ("a", "b")}
    lines: list[str] = []
    down(settings, ["a", "b"], catalog=catalog, report=lines.append)
    assert [line.split()[0] for line in lines] == ["b", "a"]
    assert all(line.endswith("was not running") for line in lines)


def test_status_of_a_fresh_stack_dir_is_all_stopped(settings: Settings) -> None:
    rows = status(settings)
    assert [row.name for row in rows] == list(ALL_PARTS)
    assert not any(row.running for row in rows)
    assert rows[0].log_file == settings.stack_dir / "logs" / "kafka.log"


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="xf")
    cli.register(root.add_subparsers(dest="command", required=True))
    return root


def test_only_takes_a_comma_separated_list_in_dependency_order() -> None:
    args = parser().parse_args(["stack", "up", "--only", "prometheus,kafka"])
    assert cli.chosen_parts(args) == ("kafka", "prometheus")
    assert cli.chosen_parts(parser().parse_args(["stack", "up", "--infra"])) == ("kafka", "postgres", "prometheus")
    assert cli.chosen_parts(parser().parse_args(["stack", "down"])) == ALL_PARTS


def test_unknown_parts_are_refused_by_the_parser(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        parser().parse_args(["stack", "up", "--only", "kafka,zookeeper"])
    assert "zookeeper" in capsys.readouterr().err


def test_status_exits_1_when_a_requested_part_is_stopped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("XF_STACK_DIR", str(tmp_path))
    args = parser().parse_args(["stack", "status", "--only", "kafka"])
    assert args.func(args) == 1
    assert "kafka" in capsys.readouterr().out


def test_logs_prints_the_end_of_a_part_log(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("XF_STACK_DIR", str(tmp_path))
    args = parser().parse_args(["stack", "logs", "postgres", "-n", "1"])
    assert args.func(args) == 1  # no log yet
    assert "xf stack up --only postgres" in capsys.readouterr().err
    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / "postgres.log").write_text("first\nlast\n")
    assert args.func(args) == 0
    assert capsys.readouterr().out == "last\n"
