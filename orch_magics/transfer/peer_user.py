"""Who connected to a forward's port: the user of the other end of a loopback TCP
connection, read from the kernel's socket tables (/proc/net/tcp, and /proc/net/tcp6 for a
client whose socket is IPv6: Java's and .NET's by default, connecting to ::ffff:127.0.0.1),
where SO_PEERCRED (a unix socket's) is not to be had. A forward carries its own user's
connections only (safety18: another account of this machine read the prod host's files
through it), and one whose user cannot be told is refused too (review34: a client that sent
and closed before it was taken is listed as root's, with no inode; a reset one not at all)."""

from __future__ import annotations

import os
import socket
import threading
from typing import IO

#: Where the kernel lists TCP sockets, and how each writes a client at 127.0.0.1:port.
_TABLES = {"/proc/net/tcp": "", "/proc/net/tcp6": "0000000000000000FFFF0000"}


class _Tables:
    """The socket tables, opened when a forward starts listening (`open`) and read again
    from their start each time: a forward out of descriptors still tells its clients apart
    (files12), where opening them at a client would fail (review35). A forked child opens
    its own: one file offset shared by two processes reads short."""

    def __init__(self) -> None:
        self._files: dict[str, IO[bytes] | None] = {}  # None: not on this machine (no IPv6)
        self._lock = threading.Lock()

    def open(self) -> None:
        """Open the tables not open yet (an OSError when /proc/net/tcp cannot be read; a
        machine without IPv6 has no tcp6)."""
        with self._lock:
            for path in _TABLES:
                if path not in self._files:
                    try:
                        self._files[path] = open(path, "rb")  # noqa: SIM115 - kept open
                    except FileNotFoundError:
                        if path == "/proc/net/tcp":
                            raise
                        self._files[path] = None  # not looked for again (review36)

    def lines(self) -> list[tuple[str, bytes]]:
        """Each table's lines, with the prefix of a client's address written there."""
        self.open()
        with self._lock:
            found = []
            for path, file in self._files.items():
                if file is None:
                    continue
                file.seek(0)
                found += [(_TABLES[path], line) for line in file.read().splitlines()]
            return found

    def after_fork(self) -> None:
        self._files, self._lock = {}, threading.Lock()


TABLES = _Tables()
os.register_at_fork(after_in_child=TABLES.after_fork)


def _entry(conn: socket.socket) -> tuple[int, int] | None:
    """(uid, inode) of the client end of `conn`, accepted on 127.0.0.1 or ::1 (None: not
    listed)."""
    try:
        peer, own = _hexed(conn.getpeername()), _hexed(conn.getsockname())
        v6 = conn.family == socket.AF_INET6
        for prefix, line in TABLES.lines():
            prefix = "" if v6 else prefix  # an IPv6 client's address is written whole
            parts = line.split()
            if len(parts) > 9 and (parts[1], parts[2]) == (
                    f"{prefix}{peer}".encode(), f"{prefix}{own}".encode()):
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
            "a connection whose user cannot be told (it is in no socket table of this "
            "machine, or ended before it was taken) was refused, with what it sent: a "
            "forward carries its own user's")
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
    """An address and port as /proc/net/tcp(6) writes them (`0100007F:1F90`; IPv6: four
    words of the host's byte order, `00000000000000000000000001000000:1F90` for ::1)."""
    host, port = address[0], address[1]
    if ":" in host:
        raw = socket.inet_pton(socket.AF_INET6, host)
        words = "".join(f"{int.from_bytes(raw[i:i + 4], 'little'):08X}" for i in range(0, 16, 4))
        return f"{words}:{port:04X}"
    return f"{int.from_bytes(socket.inet_aton(host), 'little'):08X}:{port:04X}"
