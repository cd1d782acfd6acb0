"""The listening side of a port forward: 127.0.0.1:PORT, each client joined to a new connection
that a `Connect` makes (see connectors.py). The port does not depend on the connection under it,
and closing the relay cuts the connections it carries: a closed forward carries no traffic.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import socket
import struct
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Protocol

from ..process.descriptors import lower_after_forward, raise_for_forward
from .peer_user import refusal

if TYPE_CHECKING:
    from .held import Held

#: Bytes read at once from either side.
CHUNK = 1 << 18


class Reader(Protocol):
    """The reading half of a connection: asyncio's StreamReader or asyncssh's SSHReader."""

    async def read(self, n: int = -1) -> bytes: ...

    def at_eof(self) -> bool: ...


class Writer(Protocol):
    """The writing half of a connection: asyncio's StreamWriter or asyncssh's SSHWriter."""

    def write(self, data: bytes) -> None: ...

    async def drain(self) -> None: ...

    def can_write_eof(self) -> bool: ...

    def write_eof(self) -> None: ...

    def close(self) -> None: ...

    def is_closing(self) -> bool: ...


#: Opens the far side of one client's connection (raises when it cannot).
Connect = Callable[[], Awaitable[tuple[Reader, Writer]]]
#: Asks whether the way under the clients went silent (why; it is then cut), or None.
Silent = Callable[[], Awaitable[str | None]]
#: Seconds the relay stops accepting when this process has no file descriptor left for a
#: new client: the connections wait in the port's backlog meanwhile.
FULL_PAUSE = 0.5
#: Clients a listening socket holds until they are taken (the kernel caps it at somaxconn):
#: 128 overflowed when 500 came at once, each taken after its user was looked up (kinds20).
BACKLOG = 4096
#: accept()'s errors that say this process or machine is out of descriptors or memory.
_FULL = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})
#: While clients are carried, seconds between two questions of `Silent`: a way gone silent
#: without a reset (a crashed host, a dropped VPN) would hold them for minutes.
WATCH_EVERY = 5.0


class Outcome(Protocol):
    """Told what became of each client: joined, or not (and why)."""

    def carried(self) -> None: ...

    def failed(self, exc: BaseException) -> None: ...

    def refused(self, why: str) -> None:
        """A client was refused (another user's): `why`."""

    def cut(self, why: str) -> None:
        """The clients carried were cut: their way went silent (`why`)."""

    def waiting(self, why: str) -> None:
        """New clients wait (in the port's backlog) until a connection ends (`why`)."""


async def _pump(reader: Reader, writer: Writer) -> bool:
    """Copy until end of file and pass the end on (True); False when either side failed."""
    try:
        while data := await reader.read(CHUNK):
            writer.write(data)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()
    except Exception:  # noqa: BLE001 - OSError here, asyncssh's errors there: this client ends
        return False
    return True


async def _join(ours: tuple[Reader, Writer], theirs: tuple[Reader, Writer]) -> bool:
    """Carry both ways until both ends are done (True); a side that fails cuts the other too
    (False: a dropped connection must not leave the client waiting on a half-open socket)."""
    pumps = [asyncio.ensure_future(_pump(ours[0], theirs[1])),
             asyncio.ensure_future(_pump(theirs[0], ours[1]))]
    try:
        done, pending = await asyncio.wait(pumps, return_when=asyncio.FIRST_COMPLETED)
        if pending and all(task.result() for task in done):
            await asyncio.wait(pending)
        return all(task.done() and not task.cancelled() and task.result() for task in pumps)
    finally:
        for task in pumps:
            task.cancel()


def _end(end: Writer, clean: bool) -> None:
    """Close a side that is done; cut one that is not (a stop, a failure) at once: a close
    first sends what is queued, which a far end that does not read never lets through, and
    sshd then kept its connection to the target open as long as the pooled hop lived."""
    if not clean:  # asyncssh's SSHWriter has its channel, asyncio's StreamWriter a transport
        transport = getattr(end, "transport", None)
        sock = transport.get_extra_info("socket") if transport is not None else None
        if sock is not None:  # a reset, not an end of file: a download cut short must not
            with contextlib.suppress(OSError):  # read as complete (files7)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        cut = getattr(getattr(end, "channel", None) or transport, "abort", None)
        if callable(cut):
            cut()
            return
    end.close()


def bound(port: int) -> list[socket.socket]:
    """Sockets listening on 127.0.0.1:port and, where this machine has IPv6, [::1] at the
    same port, not accepting yet (an OSError when it cannot be had: in use, …). Both, as
    `ssh -L` holds them: a client of `localhost` that tries ::1 first went to whoever held
    it, another user's listener (kinds20). Port 0: a free one, the same on both."""
    for _ in range(8):  # port 0: the one given for 127.0.0.1 may be another's on ::1
        v4 = _listening(socket.AF_INET, "127.0.0.1", port)
        chosen = v4.getsockname()[1]
        try:
            return [v4, _listening(socket.AF_INET6, "::1", chosen)]
        except OSError as exc:
            if exc.errno in (errno.EADDRNOTAVAIL, errno.EAFNOSUPPORT):  # no IPv6 loopback
                return [v4]
            v4.close()
            if port or exc.errno != errno.EADDRINUSE:
                raise OSError(exc.errno, f"[::1]:{chosen} (the IPv6 side of localhost): "
                                         f"{exc.strerror or exc}") from None
    raise OSError(errno.EADDRINUSE, "no port was free on both 127.0.0.1 and ::1")


def _listening(family: socket.AddressFamily, host: str, port: int) -> socket.socket:
    sock = socket.create_server((host, port), family=family, backlog=BACKLOG,
                                dualstack_ipv6=False)
    sock.setblocking(False)
    return sock


class Relay:
    """Listens on one local port and joins each client to `connect()`; `close` stops listening
    and cuts every connection still open."""

    def __init__(self, connect: Connect, outcome: Outcome, silent: Silent | None = None,
                 first: Held | None = None) -> None:
        """`first`: a connection to the target already made (the check at opening), which the
        first client gets instead of a new one while it is held (held.py): a listener that
        takes one connection (`nc -l`, a remote debugger) serves that client, not the check,
        which would have used it up (files13: a debuggee read the check's end as "quit")."""
        self.connect = connect
        self.first = first
        self.outcome = outcome
        self.silent = silent
        self.socks: list[socket.socket] = []
        self.clients: set[asyncio.Task[None]] = set()
        self._watching: asyncio.Task[None] | None = None
        self._accepting: list[asyncio.Task[None]] = []
        self._raised = False

    def serve(self, socks: list[socket.socket]) -> Relay:
        """Start accepting on `socks` (from `bound`): clients that came meanwhile wait in
        their backlog."""
        self.socks = socks
        raise_for_forward()  # each client holds descriptors: put back by close()
        self._raised = True
        self._accepting = [asyncio.ensure_future(self._accept(sock)) for sock in socks]
        return self

    async def _accept(self, sock: socket.socket) -> None:
        """Accept clients; with no descriptor left, pause and say so once (files12: asyncio's
        own server retried each failed accept a hundredfold a second, each with a traceback
        on stderr: 128 MB in a minute, and a core busy)."""
        loop = asyncio.get_running_loop()
        full = False
        while True:
            try:
                conn, _ = await loop.sock_accept(sock)
            except OSError as exc:
                if sock.fileno() == -1:
                    return  # closed (close())
                if exc.errno not in _FULL:  # that client went before it was taken
                    await asyncio.sleep(0.01)  # (ECONNABORTED, …); never a busy loop
                    continue
                if not full:
                    self.outcome.waiting(f"{exc.strerror or exc} ({len(self.clients)} "
                                         f"connections carried)")
                full = True
                await asyncio.sleep(FULL_PAUSE)
                continue
            full = False
            if (why := refusal(conn)) is not None:
                if why:  # said before the client sees its end: one who reads the forward's
                    self.outcome.refused(why)  # problem then finds it
                conn.close()
                await asyncio.sleep(0)  # a flood of them never holds the loop (kinds21)
                continue
            try:
                reader, writer = await asyncio.open_connection(sock=conn)
            except OSError:
                conn.close()
                continue
            self.handle_client(reader, writer)

    def handle_client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Carry this client in a task of ours: cancelled by `close`, it is nobody else's to
        report (asyncio's own task for a client would log the cancellation as an error)."""
        task = asyncio.ensure_future(self._carry(reader, writer))
        self.clients.add(task)
        task.add_done_callback(self.clients.discard)
        if self.silent is not None and self._watching is None:
            self._watching = asyncio.ensure_future(self._watch(self.silent))

    async def _watch(self, silent: Silent) -> None:
        """While clients are carried, ask every WATCH_EVERY s whether their way went silent:
        if so (it is cut) they are cut too, and the outcome is told why."""
        try:
            while self.clients:
                await asyncio.sleep(WATCH_EVERY)
                if self.clients and (why := await silent()) is not None:
                    for task in list(self.clients):
                        task.cancel()
                    self.outcome.cut(why)
        finally:
            self._watching = None

    async def _carry(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        theirs: tuple[Reader, Writer] | None = None
        clean = False
        try:
            try:
                first, self.first = self.first, None
                theirs = await first.take() if first else None
                if theirs is None:
                    theirs = await self._connected(first)
            except Exception as exc:  # noqa: BLE001 - told to the outcome; this client ends
                self.outcome.failed(exc)
                return
            self.outcome.carried()
            clean = await _join((reader, writer), theirs)
        finally:
            for end in (writer, theirs[1] if theirs else None):
                if end is not None:
                    with contextlib.suppress(Exception):
                        _end(end, clean)

    async def _connected(self, ended: Held | None) -> tuple[Reader, Writer]:
        """A new connection; when none can be made, what the ended held one said (see
        held.py), rather than nothing; the held one is closed otherwise."""
        try:
            theirs = await self.connect()
        except Exception:
            kept = ended.leftover() if ended is not None else None
            if kept is None:
                if ended is not None:
                    ended.close()
                raise
            return kept
        if ended is not None:
            ended.close()
        return theirs

    def get_port(self) -> int:
        return int(self.socks[0].getsockname()[1])

    def close(self) -> None:
        if self._raised:
            self._raised = False
            lower_after_forward()
        if self.first is not None:  # no client came for it
            self.first.close()
            self.first = None
        for accepting in self._accepting:
            accepting.cancel()
        for sock in self.socks:
            sock.close()
        for task in [*self.clients, *([self._watching] if self._watching else [])]:
            task.cancel()

    async def wait_closed(self) -> None:
        for accepting in self._accepting:
            with contextlib.suppress(asyncio.CancelledError, OSError):
                await accepting
        if self.clients:
            await asyncio.wait(set(self.clients))

