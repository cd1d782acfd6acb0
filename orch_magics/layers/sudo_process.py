"""One command run through sudo, as a ProcessBackend over the previous place's handle.

The previous place's handle carries sudo; once sudo let the command run (sudo_handshake.py)
its events are relayed: output split back into stdout and stderr (bounded queues, so a slow
reader still pauses the process), the Exit decoded as every remote kind does. Signals go to
the command's process group through a second sudo run (`signal_group`).
"""

from __future__ import annotations

import asyncio
import contextlib
import signal as _signal
from collections.abc import AsyncIterator, Awaitable, Callable

from ..errors import LayerError, StreamError
from ..process.events import Exit, Stderr, Stdout
from .remote import decode_status
from .sudo_handshake import Started

#: Output chunks a stream may hold before the relay waits for its reader.
QUEUE_CHUNKS = 16
#: Seconds a signal (a short sudo run) may take.
SIGNAL_TIMEOUT = 15.0

SignalGroup = Callable[[int, int], Awaitable[None]]
ErrorFactory = Callable[[str, type[LayerError]], LayerError]


class SudoBackend:
    """The command sudo started (its pid is its process group), relayed from `started`."""

    def __init__(self, started: Started, *, tty: bool, signal_group: SignalGroup,
                 error: ErrorFactory) -> None:
        self.pid: int | None = started.pid
        self._events = started.events
        self._tty = tty
        self._signal_group = signal_group
        self._error = error
        self._out: asyncio.Queue[bytes | None] = asyncio.Queue(QUEUE_CHUNKS)
        self._err: asyncio.Queue[bytes | None] = asyncio.Queue(QUEUE_CHUNKS)
        self._end: asyncio.Future[Exit] = asyncio.get_running_loop().create_future()
        self._stdin = started.stdin
        self._heading = started.heading
        self._signalled = False
        self._relay = asyncio.ensure_future(self._run(started))

    # ---- ProcessBackend ---------------------------------------------------------------------
    def stdout(self) -> AsyncIterator[bytes]:
        return _drain(self._out)

    def stderr(self) -> AsyncIterator[bytes] | None:
        return None if self._tty else _drain(self._err)

    async def write(self, data: bytes) -> None:
        await self._stdin.awrite(data)
        if self._stdin.broken is not None:
            raise BrokenPipeError(str(self._stdin.broken))

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
            await asyncio.wait_for(self._signal_group(self.pid, sig), SIGNAL_TIMEOUT)
        except asyncio.TimeoutError:
            raise self._error(f"sudo did not deliver signal {sig} within "
                              f"{SIGNAL_TIMEOUT:g} s", LayerError) from None

    async def close(self) -> None:
        # Stopped or abandoned: kill what is left as the target user before sudo goes.
        if self.pid is not None and (self._signalled or not self._end.done()):
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._signal_group(self.pid, _signal.SIGKILL),
                                       SIGNAL_TIMEOUT)
        self._relay.cancel()
        with contextlib.suppress(BaseException):
            await self._relay

    # ---- relay ------------------------------------------------------------------------------
    async def _run(self, started: Started) -> None:
        end = Exit(error=StreamError("the relay from sudo stopped"))
        try:
            for event in started.early:
                await self._put(event)
            async for event in self._events:
                if isinstance(event, Exit):
                    end = event
                    break
                await self._put(event)
        finally:
            if not self._end.done():
                self._end.set_result(end)
        if self._heading is not None:
            await self._put(Stderr(self._heading.flush()))
        await self._out.put(None)
        await self._err.put(None)

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
            await asyncio.wait_for(self._signal_group(self.pid, _signal.SIGKILL), SIGNAL_TIMEOUT)
            outcome = f"killed process group {self.pid} through a new sudo run"
        except (LayerError, asyncio.TimeoutError, OSError) as exc:
            outcome = f"process group {self.pid} may still run there ({exc})"
        return self._error(f"{what}; {outcome}", StreamError)


async def _drain(queue: asyncio.Queue[bytes | None]) -> AsyncIterator[bytes]:
    while True:
        chunk = await queue.get()
        if chunk is None:
            return
        yield chunk
