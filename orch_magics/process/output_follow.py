"""How long a process's output is followed once the process has ended: what it left behind
(a child that left its process group, a `setsid` daemon) may hold the streams open, and is
not followed for ever."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Collection, Mapping
from typing import Any

from .events import Event

#: Once the process has ended, its output stays open only while not silent (a child that left
#: the process group or ignores SIGTERM holds it open, and is not followed): silent = this many
#: checks, CHECK_EVERY apart, with no new chunk and none waiting for a slow reader.
QUIET_CHECKS = 5
CHECK_EVERY = 0.1
#: After a stop, output is followed for at most this long once the process has ended.
DRAIN_AFTER_STOP = 2.0
#: Once the process has ended, output that still flows from something it left in a session of
#: its own (a chatty `setsid` daemon) is followed this long at most, counted while new output
#: came and none waited for a slow reader (what the process wrote itself, still buffered on
#: the way, is not cut): chains26, the run never ended, and no stop or Ctrl-C could end it.
DRAIN_AFTER_EXIT = 2.0


async def follow(pumps: Mapping[type[Event], asyncio.Future[None]], waiter: asyncio.Future[Any],
                 received: Mapping[type[Event], int], handing: Collection[type[Event]],
                 stopping: Callable[[], bool]) -> None:
    """Until the output ends (its `pumps` done). Once the process has ended (`waiter`), output
    left open is cut (its pumps cancelled) when it is silent (QUIET_CHECKS), when it has
    flowed for DRAIN_AFTER_EXIT, or, after a stop (`stopping()`), when it has gone on for
    DRAIN_AFTER_STOP. `received`: chunks read per stream so far; `handing`: streams whose
    chunk waits for a slow reader."""
    clock = asyncio.get_running_loop().time
    ended_at: float | None = None
    quiet, flowing, seen = 0, 0.0, None
    while open_ := [p for p in pumps.values() if not p.done()]:
        if not waiter.done():
            watched: list[asyncio.Future[Any]] = [*open_, waiter]
            await asyncio.wait(watched, return_when=asyncio.FIRST_COMPLETED)
            continue
        ended_at = ended_at or clock()
        now_seen = dict(received)
        quiet = quiet + 1 if now_seen == seen and not handing else 0
        flowing += CHECK_EVERY if seen is not None and now_seen != seen and not handing else 0.0
        seen = now_seen
        if (quiet >= QUIET_CHECKS or flowing >= DRAIN_AFTER_EXIT
                or stopping() and clock() - ended_at >= DRAIN_AFTER_STOP):
            for p in open_:
                p.cancel()
            await asyncio.wait(open_)
            return
        await asyncio.wait(open_, timeout=CHECK_EVERY)
