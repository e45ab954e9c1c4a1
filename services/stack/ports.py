"""Is a TCP port free, and if not, which process holds it (best effort, from /proc)."""

from __future__ import annotations

import errno
import os
import socket
from pathlib import Path

TCP_LISTEN = "0A"
OWNER_COMMAND_CHARS = 60


def port_is_free(host: str, port: int) -> bool:
    """True when we could listen on host:port right now."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        # SO_REUSEADDR so that connections still in TIME_WAIT from a stopped part do not count.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return False
            raise
    return True


def port_accepts(host: str, port: int, timeout: float = 0.5) -> bool:
    """True when something accepts TCP connections on host:port."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def listening_inodes(proc_net_tcp: str, port: int) -> set[str]:
    """Socket inodes listening on `port`, from the text of /proc/net/tcp or /proc/net/tcp6."""
    inodes: set[str] = set()
    for line in proc_net_tcp.splitlines()[1:]:
        fields = line.split()
        if len(fields) < 10:
            continue
        local_port = int(fields[1].rsplit(":", 1)[1], 16)
        if local_port == port and fields[3] == TCP_LISTEN:
            inodes.add(fields[9])
    return inodes


def port_owner(port: int) -> str | None:
    """'pid 1234 (java ...)' for the process listening on `port`, or None if it cannot be told."""
    inodes: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            inodes |= listening_inodes(Path(table).read_text(), port)
        except OSError:
            continue
    if not inodes:
        return None
    targets = {f"socket:[{inode}]" for inode in inodes}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fds = os.listdir(entry / "fd")
            if any(os.readlink(entry / "fd" / fd) in targets for fd in fds):
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
                shown = cmdline if len(cmdline) <= OWNER_COMMAND_CHARS else cmdline[:OWNER_COMMAND_CHARS] + "…"
                return f"pid {entry.name} ({shown})"
        except OSError:
            continue
    return None
