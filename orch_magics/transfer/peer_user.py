"""Who connected to a forward's port: the user of the other end of a loopback TCP
connection, read from the kernel's socket table (/proc/net/tcp), where SO_PEERCRED (a unix
socket's) is not to be had. A forward carries its own user's connections only (safety18:
another account of this machine read the prod host's files through it)."""

from __future__ import annotations

import os
import socket


def connecting_uid(conn: socket.socket) -> int | None:
    """The uid owning the client end of `conn`, accepted on 127.0.0.1 (None: not found)."""
    try:
        wanted = (_hexed(conn.getpeername()), _hexed(conn.getsockname()))
        with open("/proc/net/tcp", encoding="ascii") as table:
            for line in table:
                parts = line.split()
                if len(parts) > 7 and (parts[1], parts[2]) == wanted:
                    return int(parts[7])
    except (OSError, ValueError):
        return None
    return None


def a_stranger(conn: socket.socket) -> int | None:
    """The uid of another user who connected (not this process's, nor root's), else None."""
    uid = connecting_uid(conn)
    return uid if uid is not None and uid not in (os.getuid(), 0) else None


def _hexed(address: tuple[str, int]) -> str:
    """An IPv4 address and port as /proc/net/tcp writes them (`0100007F:1F90`)."""
    host, port = address[0], address[1]
    return f"{int.from_bytes(socket.inet_aton(host), 'little'):08X}:{port:04X}"
