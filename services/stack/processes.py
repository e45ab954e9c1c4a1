"""Detached processes of the local stack, each with its own pid file and log file.

A part called `kafka` writes its pid to `<stack_dir>/run/kafka.pid` and its output to
`<stack_dir>/logs/kafka.log`. A pid only counts as ours while `/proc/<pid>/cmdline` still contains
the part's marker (a path or module name only our process has on its command line), so a stale pid
file whose number the kernel has reused for something else is never signalled.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import signal
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from services.stack.errors import StackError

POLL_SECONDS = 0.2
LOG_TAIL_LINES = 25
TAIL_BYTES = 256 * 1024  # enough for a few thousand lines of log

# Popen objects of the processes started by this interpreter, kept so that they are reaped on stop
# and Python does not warn about children that are still running when the object is collected.
_children: dict[int, subprocess.Popen[bytes]] = {}


def pid_file(stack_dir: Path, name: str) -> Path:
    return stack_dir / "run" / f"{name}.pid"


def log_file(stack_dir: Path, name: str) -> Path:
    return stack_dir / "logs" / f"{name}.log"


def start_detached(
    name: str,
    argv: Sequence[str],
    *,
    stack_dir: Path,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    user: str | None = None,
) -> int:
    """Start `argv` in its own session, output appended to the part's log; returns the pid.

    The process outlives the caller (new session, stdin from /dev/null). `user` runs it under another
    account, which PostgreSQL needs when we are root.
    """
    log = log_file(stack_dir, name)
    log.parent.mkdir(parents=True, exist_ok=True)
    pid_path = pid_file(stack_dir, name)
    pid_path.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        out.write(f"\n=== {time.strftime('%Y-%m-%d %H:%M:%S')} starting: {' '.join(argv)}\n".encode())
        out.flush()
        try:
            process = subprocess.Popen(
                list(argv),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=dict(env) if env is not None else None,
                cwd=cwd,
                start_new_session=True,
                **run_as(user),
            )
        except OSError as exc:
            raise StackError(f"{name}: cannot run {argv[0]}: {exc.strerror}") from exc
    _children[process.pid] = process
    pid_path.write_text(f"{process.pid}\n")
    _wait_for_exec(process)
    return process.pid


def _wait_for_exec(process: subprocess.Popen[bytes], timeout: float = 5.0) -> None:
    """Wait until the kernel has set up the new program's command line.

    Popen returns once exec is past the point of no return, but /proc/<pid>/cmdline stays empty
    until the kernel has loaded the program; checked in that window, the process would not look
    like ours.
    """
    deadline = time.monotonic() + timeout
    while command_line(process.pid) is None and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)


def run_as(user: str | None) -> dict[str, Any]:
    """Keyword arguments for subprocess that run a command as `user` with that user's groups."""
    if user is None:
        return {}
    entry = pwd.getpwnam(user)
    return {
        "user": entry.pw_uid,
        "group": entry.pw_gid,
        "extra_groups": os.getgrouplist(user, entry.pw_gid),
    }


def read_pid(stack_dir: Path, name: str) -> int | None:
    try:
        return int(pid_file(stack_dir, name).read_text().strip())
    except (FileNotFoundError, ValueError):
        return None


def command_line(pid: int) -> str | None:
    """The command line of a live process, arguments joined by spaces; None if gone or a zombie."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    if not raw:  # zombies and kernel threads have an empty command line
        return None
    return raw.rstrip(b"\0").replace(b"\0", b" ").decode(errors="replace")


def running_pid(stack_dir: Path, name: str, marker: str) -> int | None:
    """The pid of the part if its pid file names a live process of ours, else None."""
    pid = read_pid(stack_dir, name)
    if pid is None:
        return None
    _reap(pid)
    cmdline = command_line(pid)
    if cmdline is None or marker not in cmdline:
        return None
    return pid


def forget_stale_pid(stack_dir: Path, name: str, marker: str) -> None:
    """Remove a pid file that no longer names a process of ours."""
    if running_pid(stack_dir, name, marker) is None:
        pid_file(stack_dir, name).unlink(missing_ok=True)


def stop(
    stack_dir: Path,
    name: str,
    marker: str,
    *,
    stop_signal: signal.Signals = signal.SIGTERM,
    timeout: float = 30.0,
) -> bool:
    """Stop the part by its own pid: `stop_signal`, wait up to `timeout`, then SIGKILL.

    Returns False when it was not running. The pid file is removed either way.
    """
    pid = running_pid(stack_dir, name, marker)
    if pid is None:
        pid_file(stack_dir, name).unlink(missing_ok=True)
        return False
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, stop_signal)
    if not _wait_for_exit(pid, marker, timeout):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        _wait_for_exit(pid, marker, 10.0)
    pid_file(stack_dir, name).unlink(missing_ok=True)
    return True


def wait_until_ready(
    name: str,
    is_ready: Callable[[], bool],
    *,
    stack_dir: Path,
    marker: str,
    timeout: float,
    what: str = "ready",
) -> float:
    """Poll `is_ready` until it returns True; returns the seconds waited.

    Fails at once if the process exits, or after `timeout`, with the end of its log in the message.
    """
    started = time.monotonic()
    while True:
        if is_ready():
            return time.monotonic() - started
        if running_pid(stack_dir, name, marker) is None:
            raise StackError(
                f"{name} exited before it was {what}; end of {log_file(stack_dir, name)}:\n"
                + tail(log_file(stack_dir, name))
            )
        if time.monotonic() - started > timeout:
            raise StackError(
                f"{name} was not {what} after {timeout:.0f}s; end of {log_file(stack_dir, name)}:\n"
                + tail(log_file(stack_dir, name))
            )
        time.sleep(POLL_SECONDS)


def tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    """The last `lines` lines of a text file ('' if it does not exist)."""
    try:
        with path.open("rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - TAIL_BYTES))
            data = f.read()
    except FileNotFoundError:
        return ""
    return "\n".join(data.decode(errors="replace").splitlines()[-lines:])


def _wait_for_exit(pid: int, marker: str, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        _reap(pid)
        cmdline = command_line(pid)
        if cmdline is None or marker not in cmdline:
            return True
        time.sleep(POLL_SECONDS)
    return False


def _reap(pid: int) -> None:
    """Collect the exit status of a child we started, so it does not linger as a zombie."""
    child = _children.get(pid)
    if child is not None and child.poll() is not None:
        del _children[pid]
