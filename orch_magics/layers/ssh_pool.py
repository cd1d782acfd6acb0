"""Pooled SSH connections: one `Pool` per chain prefix (in the LaunchContext), each connection a
`Slot` carrying at most `SESSIONS_PER_CONNECTION` sessions.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import socket
import time
from typing import TYPE_CHECKING

from .ssh_liveness import listen

if TYPE_CHECKING:  # the kind module imports this one inside wrap()
    import asyncssh

    from .ssh_proxy import ProxyCommand

#: Sessions opened per pooled connection before another connection is made (sshd's default
#: MaxSessions is 10; one is kept free for the kill fallback).
SESSIONS_PER_CONNECTION = 9


class Slot:
    """One pooled connection and how many sessions it carries."""

    def __init__(self, conn: asyncssh.SSHClientConnection,
                 proxy: ProxyCommand | None = None) -> None:
        self.conn = conn
        self.proxy = proxy  # the ssh_config ProxyCommand it runs over, if any
        self.sessions = 0
        self.used = time.monotonic()  # when it was last handed out or last left idle
        self.signal_requests = _honours_signal_requests(conn)
        listen(conn)  # bytes received count as an answer to a liveness check


class Pool:
    """The connections of one chain prefix; the first live one also carries tunnels."""

    def __init__(self) -> None:
        self.slots: list[Slot] = []
        self.lock = asyncio.Lock()
        #: Connections that stopped answering: handed out no more, closed once bare (`prune`).
        self.aside: list[Slot] = []
        #: Connections closed while the pool lives on, until their proxy has ended.
        self._closed: list[Slot] = []

    def prune(self) -> None:
        self._closed = [s for s in self._closed if s.proxy is not None and s.proxy.running]
        for slot in self.aside:  # nothing rides on it any more (no session, tunnel, channel)
            if slot.sessions == 0 and not slot.conn._channels:  # private-ok: no public count
                slot.conn.close()
        self._closed += [s for s in (*self.slots, *self.aside) if s.conn.is_closed()]
        self.slots, self.aside = ([s for s in kept if not s.conn.is_closed()]
                                  for kept in (self.slots, self.aside))

    def set_aside(self, slot: Slot) -> None:
        """Hand `slot` out no more, without closing it (see `aside`)."""
        if slot in self.slots:
            self.slots.remove(slot)
            self.aside.append(slot)

    def close(self, slot: Slot) -> None:
        """Close `slot`'s connection (out of the pool); `aclose` still waits for its proxy."""
        slot.conn.close()
        self._closed.append(slot)

    def cut(self) -> None:
        """End every connection at its socket (its loop is gone: no close can run there); a
        connection through a ProxyCommand or a tunnel ends with the one under it."""
        for slot in [*self.slots, *self.aside]:
            sock = slot.conn.get_extra_info("socket")
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
        self.slots, self.aside = [], []

    async def aclose(self) -> None:
        slots, self.slots, self.aside = [*self.slots, *self.aside], [], []
        for slot in slots:
            slot.conn.close()
        for slot in slots:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(slot.conn.wait_closed(), 5)
        for slot in [*slots, *self._closed]:  # else asyncio warns about them on our stderr
            if slot.proxy is not None:
                await slot.proxy.end()
        self._closed = []


def _honours_signal_requests(conn: asyncssh.SSHClientConnection) -> bool:
    """OpenSSH sshd honours RFC 4254 `signal` requests from 7.9 on; other servers: unknown."""
    version = conn.get_extra_info("server_version") or ""
    m = re.search(r"OpenSSH_(\d+)\.(\d+)", version)
    return m is not None and (int(m.group(1)), int(m.group(2))) >= (7, 9)
