"""Who connected to a forward's port: the user of the other end of a loopback TCP
connection, asked of the kernel by its addresses (netlink's sock_diag, as `ss` asks), where
SO_PEERCRED (a unix socket's) is not to be had. A forward carries its own user's
connections only (safety18: another account of this machine read the prod host's files
through it), and one whose user cannot be told is refused too (review34: a client that sent
and closed before it was taken is listed as root's, with no inode; a reset one not at all).

One question per client, some 20 µs: reading the whole of /proc/net/tcp took 16-32 ms, on
the event loop, and a flood of connections any local user could make froze every run of
the process for minutes (kinds21)."""

from __future__ import annotations

import os
import socket
import struct
import threading

#: netlink's sock_diag family, its request type, and a request's flags and error type.
_SOCK_DIAG, _BY_FAMILY, _REQUEST, _ERROR = 4, 20, 1, 2
#: A request: family, protocol, extensions, pad, states (all); the socket's id: ports,
#: addresses (16 bytes each), interface and cookie (none: any).
_REQUEST_BODY = struct.Struct("=BBBBI")
_HEADER = struct.Struct("=IHHII")
#: In an answer, after its header: family, state, timer, retransmits, the 48-byte id,
#: expires, read and write queues, then the uid and inode looked for.
_UID_AT = _HEADER.size + 4 + 48 + 12


class _Diag:
    """The netlink socket the kernel is asked through, opened when a forward starts listening
    (`open`): a forward out of descriptors still tells its clients apart (files12), where
    opening one at a client would fail (review35). A forked child opens its own."""

    def __init__(self) -> None:
        self._sock: socket.socket | None = None
        self._lock = threading.Lock()
        self._seq = 0

    def open(self) -> None:
        """Open it if not open yet (an OSError when this machine cannot be asked)."""
        with self._lock:
            if self._sock is None:
                self._sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, _SOCK_DIAG)
                self._sock.settimeout(1.0)  # never answered: that client cannot be told

    def owner(self, family: int, src: tuple[str, int], dst: tuple[str, int]
              ) -> tuple[int, int] | None:
        """(uid, inode) of the TCP socket from `src` to `dst` of `family`, or None: none."""
        self.open()
        body = _REQUEST_BODY.pack(family, socket.IPPROTO_TCP, 0, 0, 0xFFFFFFFF) + struct.pack(
            "!HH", src[1], dst[1]) + _packed(family, src[0]) + _packed(family, dst[0]) + \
            struct.pack("=III", 0, 0xFFFFFFFF, 0xFFFFFFFF)
        with self._lock:
            assert self._sock is not None
            self._seq = seq = (self._seq + 1) & 0xFFFFFFFF
            self._sock.sendto(_HEADER.pack(_HEADER.size + len(body), _BY_FAMILY, _REQUEST, seq,
                                           0) + body, (0, 0))
            while True:  # an answer to an earlier question given up on is skipped
                answer = self._sock.recv(8192)
                if _HEADER.unpack_from(answer)[3] == seq:
                    break
        if _HEADER.unpack_from(answer)[1] == _ERROR or len(answer) < _UID_AT + 8:
            return None  # ENOENT: no such socket (a reset client)
        uid, inode = struct.unpack_from("=II", answer, _UID_AT)
        return uid, inode

    def after_fork(self) -> None:
        self._sock, self._lock = None, threading.Lock()


SOCKETS = _Diag()
os.register_at_fork(after_in_child=SOCKETS.after_fork)


def _packed(family: int, host: str) -> bytes:
    return socket.inet_pton(family, host).ljust(16, b"\0")


def _entry(conn: socket.socket) -> tuple[int, int] | None:
    """(uid, inode) of the client end of `conn`, accepted on 127.0.0.1 or ::1 (None: not
    there). A client's IPv6 socket (Java's and .NET's by default) reaches 127.0.0.1 as
    ::ffff:127.0.0.1."""
    try:
        peer, own = conn.getpeername()[:2], conn.getsockname()[:2]
        if conn.family == socket.AF_INET6:
            return SOCKETS.owner(socket.AF_INET6, peer, own)
        return SOCKETS.owner(socket.AF_INET, peer, own) or SOCKETS.owner(
            socket.AF_INET6, ("::ffff:" + peer[0], peer[1]), ("::ffff:" + own[0], own[1]))
    except (OSError, ValueError):
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
