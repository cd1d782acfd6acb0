"""Pooled SSH connections: one `Pool` per chain prefix (in the LaunchContext), each connection a
`Slot` carrying at most `SESSIONS_PER_CONNECTION` sessions. The pool hands them out (the first
live one carries tunnels, sessions fill a connection before another is made), checks an idle
one still answers before handing it out, and closes the extra ones once idle.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import socket
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from .base import connecting
from .ssh_liveness import answers, idle, listen

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


#: Makes a new connection for a pool (the hop's own connect).
Connect = Callable[[], Awaitable[Slot]]


class Pool:
    """The connections of one chain prefix; the first live one also carries tunnels."""

    def __init__(self, on_aside: Callable[[Slot], None]) -> None:
        #: Told of a connection set aside (what was forwarded over it is to end).
        self.on_aside = on_aside
        self.slots: list[Slot] = []
        self.lock = asyncio.Lock()
        #: Connections that stopped answering: handed out no more, closed once bare (`prune`).
        self.aside: list[Slot] = []
        #: Connections closed while the pool lives on, until their proxy has ended.
        self._closed: list[Slot] = []

    # ---- handing connections out (each waits on the lock, as connecting) ------------------
    async def primary(self, connect: Connect, within: float) -> Slot:
        """The first live connection, made when there is none: the one carrying tunnels.
        `within`: how long an idle one has to answer a keepalive."""
        with connecting():  # waiting on another run's connection is connecting too: given
            async with self.lock:  # up, it ends at once (fleets23: one launch grace late)
                self.prune()
                if (slot := await self.first_live(within)) is None:
                    slot = await connect()
                    self.slots.append(slot)
                return slot

    async def acquire(self, connect: Connect, within: float) -> Slot:
        """A live connection with room for one more session (made when none has), counted."""
        with connecting():
            async with self.lock:
                self.prune()
                for slot in list(self.slots):
                    if slot.sessions < SESSIONS_PER_CONNECTION and await self.live(slot, within):
                        break
                else:
                    slot = await connect()
                    self.slots.append(slot)
                slot.sessions += 1
                return slot

    async def live(self, slot: Slot, within: float, *, ask: bool = False) -> bool:
        """Whether `slot` may be handed out: busy, used within `IDLE` s, or answering a
        keepalive now (always asked with `ask`). A silent one is set aside, not closed: a
        busy link may only be slow, and what rides on it (tunnels, channels) ends it."""
        if (ask or idle(slot)) and not await answers(slot.conn, within):
            self.set_aside(slot)
            self.on_aside(slot)
            return False
        slot.used = time.monotonic()
        return True

    async def first_live(self, within: float, *, ask: bool = False) -> Slot | None:
        """The first connection that may be handed out (`live`; the silent ones before it
        are set aside), or None."""
        while self.slots:
            if await self.live(self.slots[0], within, ask=ask):
                return self.slots[0]
        return None

    async def answering(self, within: float) -> bool:
        """Whether a connection answers a keepalive now (the silent ones set aside)."""
        async with self.lock:
            self.prune()
            return await self.first_live(within, ask=True) is not None

    def release(self, slot: Slot) -> None:
        """A session on `slot` ended: an extra or retired connection closes once idle."""
        slot.sessions -= 1
        slot.used = time.monotonic()
        if slot.sessions > 0 or slot in self.aside:  # aside: closed by `prune` once bare
            return
        if slot not in self.slots:  # retired: it closes with its last session, unless it
            self._close_or_aside(slot)  # still carries tunnels or forwards
        elif slot is not self.slots[0]:  # extra connections close when idle
            self.slots.remove(slot)
            self.close(slot)

    def retire(self, slot: Slot) -> None:
        """Hand `slot` out no more. A dead one or one nothing rides on closes now; one that
        still carries other runs' sessions (it refused one more) closes with the last of
        them; one that carries tunnels or forwards (a next hop, a docker socket: no
        sessions) is set aside until they end (review40: a session open that timed out on
        a busy link closed the primary, and every run riding on it)."""
        if slot.conn.is_closed():
            if slot in self.slots:
                self.slots.remove(slot)
            self.close(slot)
        elif slot.sessions == 0:
            self._close_or_aside(slot)
        elif slot in self.slots:
            self.slots.remove(slot)

    def _close_or_aside(self, slot: Slot) -> None:
        if slot in self.slots:
            self.slots.remove(slot)
        if bare(slot):
            self.close(slot)
        elif slot not in self.aside:
            self.aside.append(slot)

    def down(self) -> bool:
        """Whether it had connections and every one of them is closed."""
        slots = [*self.slots, *self.aside]
        return bool(slots) and all(slot.conn.is_closed() for slot in slots)

    # ---- closing ------------------------------------------------------------------------
    def prune(self) -> None:
        self._closed = [s for s in self._closed if s.proxy is not None and s.proxy.running]
        for slot in self.aside:
            if bare(slot):
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


def bare(slot: Slot) -> bool:
    """Whether nothing rides on `slot` any more: no session, tunnel or forwarded channel."""
    return slot.sessions == 0 and not slot.conn._channels  # private-ok: no public count

