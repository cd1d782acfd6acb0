"""One command run through sudo, as a ProcessBackend over the previous place's handle.

The previous place's handle carries sudo; once sudo let the command run (sudo_handshake.py)
its events are relayed: output split back into stdout and stderr (bounded queues, so a slow
reader still pauses the process), the Exit decoded as every remote kind does. Signals go to
the command's process group through a second sudo run (`signal_group`).

The wrapper says the command's status last, on its stderr (the terminal's one stream under a
TTY): that is the run's status (output after it, of a process the command left, is passed on).
sudo should end right after; sudo 1.9.13 (Debian 12's) may
not: when the command ends while sudo holds terminal input it read for it (left unread, or an
EOF's ^D that crossed the end), its last flush waits on the terminal forever (fixed in 1.9.14,
sudo-project/sudo PR #247), or spins on a pty whose other side is gone. So under a terminal
the sudo is this backend's to end: still there `END_GRACE` s after the status line, or after
the command was killed, it is stopped; and any sudo is stopped when the backend closes.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal as _signal
from collections.abc import AsyncIterator, Awaitable, Callable

from .._loop import cancelled
from ..errors import AuthError, LayerError, StreamError
from ..process.events import Event, Exit, Stderr, Stdout
from .exec_tail import ExecTail
from .remote import decode_status
from .sudo_handshake import Started

#: Output chunks a stream may hold before the relay waits for its reader.
QUEUE_CHUNKS = 16
#: Seconds a signal (a short sudo run) may take.
SIGNAL_TIMEOUT = 15.0
#: Seconds sudo may take to end once its command has (or once it refused to run one).
END_GRACE = 2.0

SignalGroup = Callable[[int, int, bool], Awaitable[None]]
ErrorFactory = Callable[[str, type[LayerError]], LayerError]


class SudoBackend:
    """The command sudo started (its pid is its process group), relayed from `started`."""

    def __init__(self, started: Started, *, tty: bool, signal_group: SignalGroup,
                 error: ErrorFactory) -> None:
        self.pid: int | None = started.pid
        self._events = started.events
        self._handle = started.handle
        self._tail = ExecTail(started.nonce, engine=False)  # the status said, once it came
        self._overdue: asyncio.Task[None] | None = None  # stops a sudo left after the status
        self._tty = tty
        self._signal_group = signal_group
        self._error = error
        self._out: asyncio.Queue[bytes | None] = asyncio.Queue(QUEUE_CHUNKS)
        self._err: asyncio.Queue[bytes | None] = asyncio.Queue(QUEUE_CHUNKS)
        self._end: asyncio.Future[Exit] = asyncio.get_running_loop().create_future()
        self._stdin = started.handle.stdin
        self._heading = started.heading
        self._signalled = False
        self._ending: asyncio.Future[Exit] | None = None  # sudo's own stop, when a kill was refused
        self._relay = asyncio.ensure_future(self._run(started))

    # ---- ProcessBackend ---------------------------------------------------------------------
    async def resize(self, size: tuple[int, int]) -> None:
        """sudo's terminal is the handle's it rides on: sudo passes the change on to its own."""
        await self._handle.resize(size)

    def stdout(self) -> AsyncIterator[bytes]:
        return _drain(self._out)

    def stderr(self) -> AsyncIterator[bytes] | None:
        return None if self._tty else _drain(self._err)

    async def write(self, data: bytes) -> None:
        await self._stdin.awrite(data)
        if self._stdin.broken is not None:
            raise BrokenPipeError(str(self._stdin.broken))

    def stdin_gone(self) -> bool:
        return self._stdin.broken is not None  # as the way under sudo knows it

    async def write_eof(self) -> None:
        self._stdin.close()
        await self._stdin.drain()

    async def wait(self) -> Exit:
        end = await asyncio.shield(self._end)
        if end.error is not None:
            return Exit(error=await self._lost(end.error))
        if end.code is not None:
            return decode_status(end.code)  # 128+N: a death by signal N, as a shell says it
        return end

    async def signal(self, sig: int) -> None:
        if self.pid is None or self._end.done():
            return
        self._signalled = True
        try:
            await asyncio.wait_for(self._signal_group(self.pid, sig, self._tty), SIGNAL_TIMEOUT)
        except asyncio.TimeoutError:
            raise self._error(f"sudo did not deliver signal {sig} within "
                              f"{SIGNAL_TIMEOUT:g} s", LayerError) from None
        except AuthError:  # kinds12: sudo refused the signal's own run (a password changed
            # or expired during the run): a stop held 16 s, then blamed the kernel. For the
            # stop's TERM and KILL the sudo the command runs under is ended instead (its
            # wrapper's watch ends the group); any other signal is said refused (review25).
            if sig not in (_signal.SIGTERM, _signal.SIGKILL):
                raise
            if self._ending is None:
                self._ending = asyncio.ensure_future(self._handle.stop((0.5, 0.5)))
                self._ending.add_done_callback(lambda done: done.cancelled() or done.exception())
            return
        if sig in (_signal.SIGCONT, _signal.SIGKILL):
            # sudo stops itself when its command stops (job control, as a shell would see
            # it): a CONT or KILL reaching the command alone left sudo stopped for good, and
            # the run waiting on it (layers2 tester); sudo's own uid is the login user's
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._handle.send_signal(_signal.SIGCONT),
                                       SIGNAL_TIMEOUT)
        if sig == _signal.SIGKILL:
            self._arm()  # the command is gone: sudo should end now

    async def cut_if_silent(self) -> bool:
        return await self._handle.cut_if_silent()  # sudo's own way there: the place's handle

    async def close(self) -> None:
        # Stopped or abandoned: kill what is left as the target user before sudo goes.
        if self.pid is not None and (self._signalled or not self._end.done()):
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._signal_group(self.pid, _signal.SIGKILL, self._tty),
                                       SIGNAL_TIMEOUT)
        for task in (self._relay, self._overdue):
            await cancelled(task)
        if self._handle.running:  # a sudo stuck after its command (or given up on)
            with contextlib.suppress(Exception):
                await self._handle.stop((0.5, 0.5))

    # ---- relay ------------------------------------------------------------------------------
    async def _run(self, started: Started) -> None:
        end = Exit(error=StreamError("the relay from sudo stopped"))
        try:
            for event in started.early:  # the command's first output may have come along
                await self._put(self._past_status(event))
            async for event in self._events:
                if isinstance(event, Exit):
                    end = event
                    break
                await self._put(self._past_status(event))
            await self._put((Stdout if self._tty else Stderr)(self._tail.flush()))
            if self._tail.status is not None:
                end = Exit(code=self._tail.status)
        finally:
            if not self._end.done():
                self._end.set_result(end)
        if self._heading is not None:
            await self._put(Stderr(self._heading.flush()))
        await self._out.put(None)
        await self._err.put(None)

    def _past_status(self, event: Event) -> Event:
        """`event` without what may be the wrapper's status line (on the wrapper's stderr),
        which, once it came last, gives sudo `END_GRACE` s to end (see the module's words)."""
        if not isinstance(event, Stdout | Stderr) or isinstance(event, Stderr) == self._tty:
            return event
        event = type(event)(self._tail.feed(event.data))  # later output passes as it is
        if self._tail.status is not None:
            self._arm()
        return event

    def _arm(self) -> None:
        """The command is over: sudo gets `END_GRACE` s to end, then is stopped. Only under a
        terminal, where sudo relays input and may hang (without one, stdout may still be
        on its way while the status line has come on stderr). No EOF is sent: a ^D crossing
        the end is what may make sudo hang."""
        if self._overdue is None and self._tty:
            self._overdue = asyncio.ensure_future(self._handle.end(END_GRACE, eof=False))

    async def _put(self, event: object) -> None:
        if not isinstance(event, Stdout | Stderr) or not event.data:
            return
        if isinstance(event, Stdout) and self._heading is not None and not self._heading.done:
            shell, out = self._heading.feed(event.data)  # the login shell's part: see Heading
            await self._put(Stderr(shell))
            await self._put(Stdout(out))
        elif isinstance(event, Stdout) or self._tty:
            await self._out.put(event.data)
        else:
            await self._err.put(event.data)

    async def _lost(self, error: BaseException) -> LayerError:
        """The way to sudo broke: kill the command as its user (a fresh sudo run), say so."""
        what = str(getattr(error, "reason", error))
        assert self.pid is not None
        try:
            await asyncio.wait_for(self._signal_group(self.pid, _signal.SIGKILL, self._tty),
                                   SIGNAL_TIMEOUT)
            outcome = f"killed process group {self.pid} through a new sudo run"
        except (LayerError, asyncio.TimeoutError, OSError) as exc:
            outcome = f"process group {self.pid} may still run there ({exc})"
        if isinstance(error, LayerError) and error.hop is not None:  # files10: the hop that
            return StreamError(f"{error.reason}; {outcome}", hop=error.hop, layer=error.layer)
        return self._error(f"{what}; {outcome}", StreamError)  # dropped, not sudo's, is named


async def _drain(queue: asyncio.Queue[bytes | None]) -> AsyncIterator[bytes]:
    while True:
        chunk = await queue.get()
        if chunk is None:
            return
        yield chunk
