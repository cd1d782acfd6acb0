"""Who connected to a forward's port: the user of the other end of a loopback TCP
connection, read from the kernel's socket table (/proc/net/tcp), where SO_PEERCRED (a unix
socket's) is not to be had. A forward carries its own user's connections only (safety18:
another account of this machine read the prod host's files through it), and one whose user
cannot be told is refused too (review34: a client that sent and closed before it was taken
is listed as root's, with no inode; a reset one not at all)."""

from __future__ import annotations

import os
import socket
import threading
from typing import IO


class _Table:
    """/proc/net/tcp, opened once and read again from its start each time: a forward out of
    descriptors still tells its clients apart (files12), where opening it anew would fail."""

    def __init__(self) -> None:
        self._file: IO[bytes] | None = None
        self._lock = threading.Lock()

    def lines(self) -> list[bytes]:
        with self._lock:
            if self._file is None:
                self._file = open("/proc/net/tcp", "rb")  # noqa: SIM115 - kept for the process
            self._file.seek(0)
            return self._file.read().splitlines()


_TABLE = _Table()


def _entry(conn: socket.socket) -> tuple[int, int] | None:
    """(uid, inode) of the client end of `conn`, accepted on 127.0.0.1 (None: not listed)."""
    try:
        wanted = (_hexed(conn.getpeername()).encode(), _hexed(conn.getsockname()).encode())
        for line in _TABLE.lines():
            parts = line.split()
            if len(parts) > 9 and (parts[1], parts[2]) == wanted:
                return int(parts[7]), int(parts[9])
    except (OSError, ValueError):
        return None
    return None


def refusal(conn: socket.socket) -> str | None:
    """Why `conn` is not carried (another user's, or one whose user cannot be told), or None
    when it is this process's user's (or root's); "" for one that ended before it was taken
    having sent nothing (a port check): refused, with nothing to say."""
    found = _entry(conn)
    if found is None or found[1] == 0:  # not listed, or an orphan: closed before it was taken
        return "" if not _holds_bytes(conn) else (
            "a connection whose user cannot be told (it ended before it was taken) was "
            "refused, with what it sent: a forward carries its own user's")
    if found[0] not in (os.getuid(), 0):
        return (f"a connection from another user (uid {found[0]}) was refused: a forward "
                f"carries its own user's")
    return None


def _holds_bytes(conn: socket.socket) -> bool:
    """Whether bytes the client sent wait in `conn` (peeked at, not taken)."""
    try:
        return bool(conn.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT))
    except OSError:  # none yet (EAGAIN), or reset
        return False


def _hexed(address: tuple[str, int]) -> str:
    """An IPv4 address and port as /proc/net/tcp writes them (`0100007F:1F90`)."""
    host, port = address[0], address[1]
    return f"{int.from_bytes(socket.inet_aton(host), 'little'):08X}:{port:04X}"
