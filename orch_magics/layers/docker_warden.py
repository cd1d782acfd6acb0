"""What stops a container's runs when the controller that started them dies without stopping them.

An exec outlives the engine connection that started it, and the Engine API has no exec-kill
(moby#35703): a controller killed outright (SIGKILL, the OOM killer, a kernel that died) would
leave its commands running in the container. So, as `lifeline.py` does on this machine and
with its script, one warden exec per container and user holds its stdin open on a connection
of the controller's; the launcher writes ``+PGID`` when a run starts there and ``-PGID`` once
it has ended. When that connection ends (the engine closes an exec's stdin with its client),
the warden sends SIGTERM to every group still listed and to the rest of their sessions, then
SIGKILL two seconds later. A warden that cannot start (no `sh`, a paused container) leaves
runs as they were: stopped the usual way.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

from ..process.handle import ProcessHandle

#: Seconds a warden told to end (its stdin closed) may take before it is stopped.
END_WAIT = 2.0
#: Seconds a run waits for its container's warden to start (with it) before going on without.
READY_WAIT = 5.0


class Warden:
    """One container's warden exec (started in the background) and the groups it watches."""

    def __init__(self, start: Callable[[], Awaitable[ProcessHandle]]) -> None:
        self._groups: set[int] = set()
        self._handle: ProcessHandle | None = None
        self._closing = False
        self._task = asyncio.ensure_future(self._start(start))

    async def _start(self, start: Callable[[], Awaitable[ProcessHandle]]) -> None:
        try:
            handle = await start()
        except Exception:  # best effort: without a warden, runs are stopped as before
            return
        handle.discard_output()  # it says nothing; nobody reads it
        self._handle = handle
        self._say(b"".join(b"+%d\n" % g for g in sorted(self._groups)))

    @property
    def gone(self) -> bool:
        """Whether it failed to start or has ended (the container stopped): start another."""
        return self._task.done() and (self._handle is None or not self._handle.running)

    async def watch(self, pgid: int) -> None:
        """List process group `pgid` (a run that just started in the container), once the
        warden runs (a controller killed a moment later must find it there)."""
        self._groups.add(pgid)
        self._say(b"+%d\n" % pgid)
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(asyncio.shield(self._task), READY_WAIT)

    def forget(self, pgid: int) -> None:
        """Take `pgid` off the list: its run has ended (its number may be reused)."""
        if pgid in self._groups:
            self._groups.discard(pgid)
            self._say(b"-%d\n" % pgid)

    def _say(self, lines: bytes) -> None:
        if lines and not self._closing and self._handle is not None and self._handle.running:
            self._handle.stdin.write(lines)

    async def close(self) -> None:
        """End it: EOF (it signals what is still listed: runs being closed anyway), then the
        stop ladder if it lingers."""
        self._closing = True
        self._task.cancel()
        with contextlib.suppress(BaseException):
            await self._task
        if self._handle is None:
            return
        await self._handle.end(END_WAIT)
