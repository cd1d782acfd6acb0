"""What stops a container's runs when the controller that started them dies without stopping them.

An exec outlives the engine connection that started it, and the Engine API has no exec-kill
(moby#35703): a controller killed outright (SIGKILL, the OOM killer, a kernel that died) would
leave its commands running in the container. So, as `lifeline.py` does on this machine and
with its script, one warden exec per container and user holds its stdin open on a connection
of the controller's; the launcher writes ``+PGID`` when a run starts there and ``-PGID`` once
it has ended. When that connection ends (the engine closes an exec's stdin with its client),
the warden sends SIGTERM to every group still listed and to the rest of their sessions, then
SIGKILL two seconds later. A warden that cannot start (no `sh`, a paused container) leaves
runs as they were: stopped the usual way. A run whose KILL a paused container refused, or
an engine that did not answer never confirmed, stays listed, so the warden ends it once the
container runs it again and the controller has let go of it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Hashable, Iterable, Mapping

from .._loop import cancelled
from ..errors import ProcessLeft
from ..process.events import Exit
from ..process.handle import ProcessHandle
from .base import ungated

#: Seconds a warden told to end (its stdin closed) may take before it is stopped.
END_WAIT = 2.0
#: Seconds a run waits for its container's warden to start (with it) before going on without.
READY_WAIT = 5.0


class Warden:
    """One container's warden exec (started in the background) and the groups it watches."""

    def __init__(self, start: Callable[[], Awaitable[ProcessHandle]]) -> None:
        self._start_exec = start
        self._groups: set[int] = set()
        self._handle: ProcessHandle | None = None
        self._closing = False
        self._retired = False
        self._ending: asyncio.Future[None] | None = None
        self._task: asyncio.Future[None] | None = None
        self.ensure()

    def ensure(self) -> None:
        """Start its exec unless one runs or is starting: at first use, and after one died (it
        failed to start, the container restarted, a `pkill -f` in it): the groups still listed
        go to the new one. Shared by the runs in the container: no launch's own (`ungated`)."""
        running = self._handle is not None and self._handle.running
        if not self._closing and not running and (self._task is None or self._task.done()):
            self._handle = None
            with ungated():
                self._task = asyncio.ensure_future(self._start())

    async def _start(self) -> None:
        try:
            handle = await self._start_exec()
        except Exception:  # best effort: without a warden, runs are stopped as before
            return
        handle.discard_output()  # it says nothing; nobody reads it
        self._handle = handle
        self._say(b"".join(b"+%d\n" % g for g in sorted(self._groups)))

    async def ready(self) -> None:
        """Wait until its exec runs (READY_WAIT s at most): a run with nothing to hold its
        command back (a TTY's: no preamble) starts only then (chains22: killed in the seconds a
        warden takes to start, its command ran on)."""
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._told(), READY_WAIT)

    async def watch(self, pgid: int) -> None:
        """List process group `pgid` (a run that just started in the container) and wait
        until the warden runs and has been sent it (a controller killed a moment later must
        find it there), READY_WAIT s at most."""
        self._groups.add(pgid)
        self._say(b"+%d\n" % pgid)
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._told(), READY_WAIT)

    async def _told(self) -> None:
        if self._task is not None:  # waited, never raised: one cancelled by a close is over
            await asyncio.wait([self._task])
        if self._handle is not None and self._handle.running and not self._closing:
            await self._handle.stdin.drain()

    def ended(self, pgid: int, end: Exit) -> None:
        """`forget` the group of a run that ended, unless its KILL was refused or never seen
        to work (a paused container; an engine that did not answer: review47, it ran on for
        good): then it stays listed, and the warden ends it when the controller lets go of
        the container (closes, or dies), once the engine runs it."""
        if not isinstance(end.error, ProcessLeft):
            self.forget(pgid)

    def forget(self, pgid: int) -> None:
        """Take `pgid` off the list: its run has ended (its number may be reused)."""
        if pgid in self._groups:
            self._groups.discard(pgid)
            self._say(b"-%d\n" % pgid)
        if self._retired and not self._groups:
            self._end_soon()

    def retire(self) -> None:
        """Its engine client was replaced (the hop went silent): end it once the runs it lists
        have ended. Until then its exec keeps its connection, maybe one set aside, open."""
        self._retired = True
        if not self._groups:
            self._end_soon()

    def _end_soon(self) -> None:
        if self._ending is None:
            self._ending = asyncio.ensure_future(self._end())

    def _say(self, lines: bytes) -> None:
        if lines and not self._closing and self._handle is not None and self._handle.running:
            self._handle.stdin.write(lines)

    async def close(self) -> None:
        """End it: EOF (it signals what is still listed: runs being closed anyway), then the
        stop ladder if it lingers."""
        self._end_soon()
        assert self._ending is not None
        await asyncio.shield(self._ending)

    async def _end(self) -> None:
        self._closing = True
        await cancelled(self._task)
        if self._handle is None:
            return
        await self._handle.end(END_WAIT)


def wardens_of(pools: Mapping[Hashable, object], engine: object) -> list[Warden]:
    """The wardens a launcher's `pools` hold for engine client `engine` (keyed
    `("warden", engine, container, user)`: see DockerLauncher._warden)."""
    return [w for k, w in pools.items()
            if isinstance(w, Warden) and isinstance(k, tuple) and k[:2] == ("warden", engine)]


async def close_all(wardens: Iterable[Warden]) -> None:
    """End these wardens together: each close waits for its exec's end through the hops, so
    one after another would add those round trips up, per container, at every exit."""
    await asyncio.gather(*(w.close() for w in wardens), return_exceptions=True)
