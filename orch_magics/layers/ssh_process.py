"""One remote process on an SSH channel: the ProcessBackend of the ssh kind.

The channel runs `remote.shell_line(...)`: the shared wrapper reports the pid (the session's
process group), reads the env/cwd preamble from stdin, and runs the argv. Signals go as RFC 4254
`signal` requests where the server honours them, else as `remote.kill_group_line` on a second
channel. A dropped connection is followed by a reconnect that kills what was left (`recover`).
"""

from __future__ import annotations

import asyncio
import contextlib
import shlex
import signal as _signal
import time
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import asyncssh

from ..errors import LayerError
from ..process.events import Exit
from ..process.handle import SIGNAL_CHECK, retrieved
from .base import SILENT_AFTER
from .remote import (
    NAMED_SIGNALS,
    READY_MARK,
    PidMarker,
    decode_status,
    kill_group_line,
    signal_named,
)
from .ssh_liveness import answers, while_heard
from .ssh_pool import Slot

#: Read size for channel streams (asyncssh returns what is buffered, up to this).
READ_CHUNK = 1 << 20
#: Fallback kill channels, one at a time per connection (see `_kill_group`).
_KILL_LOCKS: weakref.WeakKeyDictionary[Any, asyncio.Lock] = weakref.WeakKeyDictionary()
#: Tries of a fallback kill whose channel the server refused (0.1 s apart).
KILL_TRIES = 30
#: Seconds a `signal` request's reply may take.
SIGNAL_REPLY = 2.0
#: Seconds a fallback kill's channel may take to run it, without a byte from the connection;
#: while output still arrives (a slow, busy link: its answers queue behind it), up to KILL_BUSY
#: for the kill, its tries included.
KILL_REPLY = 5.0
KILL_BUSY = 60.0
#: How long a stop waits for the wrapper's pid after the session opened (the remote login
#: shell's start-up files run first), seconds.
PID_WAIT = 10.0


class SSHBackend:
    """A process started by the wrapper on an SSH channel (see the module docstring)."""

    def __init__(
        self,
        process: asyncssh.SSHClientProcess[bytes],
        slot: Slot,
        *,
        tty: bool,
        error: Callable[[str], LayerError],
        blame: Callable[[], Callable[[str], LayerError]],
        release: Callable[[], None],
        recover: Callable[[int], Awaitable[str]],
        cut_way: Callable[[], Awaitable[str | None]],
        initial: bytes = b"",
        pid: int | None = None,
    ) -> None:
        self._proc = process
        self._slot = slot
        self._conn = slot.conn
        self._tty = tty
        self._error = error
        self._blame = blame
        self._lost_by: Callable[[str], LayerError] | None = None
        self._release = release
        self._recover = recover
        self._cut_way = cut_way  # the hop's own check of its connections and its carrier's
        self._initial = initial
        self._marker = PidMarker()
        #: The remote pid (also the remote process group id), once the wrapper reported it.
        self.pid: int | None = pid
        # Set once the wrapper's pid line is read (or the output ended without one): a stop
        # that comes right after the session opened waits for it, or its signal had nowhere
        # to go (the fallback signals the process group by that pid).
        self._pid_known = asyncio.Event()
        if pid is not None:
            self._pid_known.set()
        self._exit: Exit | None = None
        self._closed = False
        self._silent = False  # cut by a stop that got no reply (see `cut_if_silent`)
        self._recovery: asyncio.Future[str] | None = None
        # Set when the exit status arrives: a child that left the process group may hold the
        # channel open long after (ProcessHandle then stops following it). asyncssh tells
        # only its session object, so its two callbacks are taken on this instance.
        self._exited = asyncio.Event()
        if process.exit_status is not None:
            self._exited.set()
        for callback in ("exit_status_received", "exit_signal_received"):
            setattr(process, callback, lambda *_: self._exited.set())

    # ---- ProcessBackend ---------------------------------------------------------------------
    async def resize(self, size: tuple[int, int]) -> None:
        """A `window-change` request (RFC 4254 6.7): sshd sizes the terminal it made."""
        self._proc.change_terminal_size(*size)

    def stdout(self) -> AsyncIterator[bytes]:
        return self._read(self._proc.stdout, marked=self._tty, initial=self._initial)

    def stderr(self) -> AsyncIterator[bytes] | None:
        if self._tty:
            return None
        return self._read(self._proc.stderr, marked=True)

    async def write(self, data: bytes) -> None:
        try:
            self._proc.stdin.write(data)
            await self._proc.stdin.drain()
        except (asyncssh.Error, OSError) as exc:
            raise BrokenPipeError(str(exc)) from None

    def stdin_gone(self) -> bool:
        return False  # the far end takes input and drops it, as `ssh` does

    async def write_eof(self) -> None:
        if self._tty:
            await self.write(b"\x04")  # the terminal's EOF character, as for a local PTY
            return
        try:
            self._proc.stdin.write_eof()
        except (asyncssh.Error, OSError):
            pass

    async def wait(self) -> Exit:
        ended = [asyncio.ensure_future(self._proc.wait_closed()),
                 asyncio.ensure_future(self._exited.wait())]
        try:
            await asyncio.wait(ended, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiting in ended:
                waiting.cancel()
        sig = self._proc.exit_signal
        status = self._proc.exit_status
        if sig is not None:
            num = signal_named(sig[0])
            self._exit = Exit(signal=num) if num else Exit(code=255)
        elif status is not None and status >= 0:
            self._exit = decode_status(status)  # 128+N as every remote kind reads it
        elif self._conn.is_closed():
            self._exit = Exit(error=await self._lost("connection lost while the command ran"))
        else:
            self._exit = Exit(error=self._error("the channel closed without an exit status"))
        return self._exit

    async def signal(self, sig: int) -> None:
        """The SSH `signal` request where the server honours it, else `kill -SIG -PGID`.

        Whether the server honoured the request is asked (want-reply), not guessed; a refusal
        switches this connection to the fallback. KILL always goes both ways: the last step of
        the ladder must leave nothing behind.
        """
        if self._exit is not None or self._closed:
            return
        try:
            name = _signal.Signals(sig).name[3:]
        except ValueError:  # SIGRTMIN+n has no name to request: it goes by kill only
            name = ""
        sent: bool | None = False
        if self._slot.signal_requests and name in NAMED_SIGNALS:  # OpenSSH >= 7.9 takes these
            sent = await self._request_signal(name)
            if sent is False:  # e.g. sshd refuses it for root logins (no privsep child): stop
                self._slot.signal_requests = False  # asking
        if not sent or sig == _signal.SIGKILL:
            await self._kill_group(sig)

    async def close(self) -> None:
        if self._closed:
            return
        try:
            if self._exit is None or self._exit.error is not None:
                await self._kill_group(_signal.SIGKILL)  # a closed channel would orphan it
            self._proc.close()
        finally:
            self._closed = True
            self._release()

    # ---- helpers ----------------------------------------------------------------------------
    async def _lost(self, what: str) -> LayerError:
        """`what`, and what became of the command (killed after a reconnect, or left where),
        said by the hop whose connection died: asked before the reconnect replaces it."""
        if self._lost_by is None:  # once: both streams and wait() notice the one loss
            self._lost_by = self._blame()
        error = self._lost_by
        if self._silent:  # cut by a stop: why it is closed says more than how it ended
            what = (f"the connection stopped answering while the run was stopped (no reply "
                    f"within {SIGNAL_CHECK + SILENT_AFTER:g} s): closed, so the host ends the "
                    f"session once it hears of it")
        if self.pid is None:
            return error(f"{what}; it may still be running there (its pid was never reported)")
        if self._recovery is None:  # once, though both streams and wait() notice the loss
            self._recovery = asyncio.ensure_future(self._recover(self.pid))
        return error(f"{what}; {await asyncio.shield(self._recovery)}")

    async def _request_signal(self, name: str) -> bool | None:
        """An RFC 4254 `signal` request with want-reply, so a refusal is known, not guessed
        (None: no reply within SIGNAL_REPLY seconds)."""
        chan = self._proc.channel
        make_request = getattr(chan, "_make_request", None)
        try:
            if make_request is None:  # asyncssh without it: fire and forget
                self._proc.send_signal(name)
                return True
            from asyncssh.packet import String

            return bool(await asyncio.wait_for(make_request(b"signal", String(name)),
                                               SIGNAL_REPLY))
        except asyncio.TimeoutError:
            return None
        except (OSError, ValueError, asyncssh.Error):
            return False

    async def cut_if_silent(self) -> bool:
        """A stop's signal was not delivered in time: whether the connection is silent (no
        keepalive reply either; closed, or a host or link gone without a reset). A silent one
        is cut here: the run then ends as a lost connection (a reconnect kills what is left,
        or says where it is), and its server ends the session once it hears of the close,
        when the wrapper's watchdog stops the command: pooled, it would hold it open for good."""
        if self._conn.is_closed():
            return True
        _, replied = await asyncio.gather(self._cut_way(), answers(self._conn, SILENT_AFTER))
        if replied:
            return False
        self._silent = True
        self._conn.abort()
        return True

    async def _kill_group(self, sig: int) -> None:
        """`kill -SIG -PGID` over a second channel of the same connection (best effort)."""
        if self.pid is None:  # the session opened; the remote shell is still starting
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._pid_known.wait(), PID_WAIT)
        pid = self.pid
        if pid is None or self._conn.is_closed():
            return
        line = f"sh -c {shlex.quote(kill_group_line(pid, sig))}"
        # One such channel at a time per connection: its sessions are counted (MaxSessions)
        # with one kept for this, so stops at once would each be refused "no more sessions",
        # their signals lost. A refusal still (a session of another user of it) is tried again.
        lock = _KILL_LOCKS.setdefault(self._conn, asyncio.Lock())
        until: float | None = None  # from its first try: the wait for the lock is not its own
        for _ in range(KILL_TRIES):
            async with lock:
                until = until or time.monotonic() + KILL_BUSY
                if time.monotonic() >= until:
                    return
                # left to finish if given up on: the kill still lands, and its channel closes
                running = asyncio.ensure_future(self._conn.run(line, check=False))
                running.add_done_callback(retrieved)
                try:
                    await while_heard(self._conn, running, KILL_REPLY, until)
                    return
                except asyncssh.ChannelOpenError:
                    pass
                except (asyncio.TimeoutError, OSError, asyncssh.Error):
                    return
            await asyncio.sleep(0.1)

    async def _read(self, reader: Any, *, marked: bool, initial: bytes = b"") -> AsyncIterator[bytes]:
        if initial:
            yield initial
        marker = self._marker if marked and self.pid is None else None
        while True:
            try:
                chunk = await reader.read(READ_CHUNK)
            except (asyncssh.Error, OSError, EOFError) as exc:
                self._pid_known.set()
                if marker is not None and (held := marker.flush()):
                    yield held
                raise await self._lost(f"connection lost while reading output ({exc})") from None
            if not chunk:
                self._pid_known.set()
                if marker is not None and (held := marker.flush()):
                    yield held
                return
            if marker is not None:
                chunk = marker.feed(chunk)
                if marker.done:
                    self.pid, marker = marker.pid, None
                    self._pid_known.set()
                if not chunk:
                    continue
            yield chunk


async def wait_for_ready(process: asyncssh.SSHClientProcess[bytes]) -> bytes:
    """Under a PTY, after the preamble: read until the wrapper says the terminal is cooked
    again (input sent before, an EOF's ^D above all, could meet it raw); what came first."""
    out, start = bytearray(), 0
    while True:
        i = out.find(READY_MARK, start)
        if i >= 0 and (j := out.find(b"\n", i)) >= 0:
            return bytes(out[:i] + out[j + 1:])
        start = i if i >= 0 else max(0, len(out) - len(READY_MARK))  # not all again: a login
        chunk = await process.stdout.read(READ_CHUNK)  # shell may print much before it
        if not chunk:
            return bytes(out)
        out += chunk


async def wait_for_pid(process: asyncssh.SSHClientProcess[bytes]) -> tuple[bytes, int | None]:
    """Under a PTY: read until the wrapper's pid line (the terminal is raw and silent then)."""
    marker, out = PidMarker(), b""
    while not marker.done:
        chunk = await process.stdout.read(READ_CHUNK)
        if not chunk:
            return out + marker.flush(), None
        out += marker.feed(chunk)
    return out, marker.pid

