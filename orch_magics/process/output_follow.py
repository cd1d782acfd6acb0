"""How long a process's output is followed once the process has ended: what it left behind
(a child that left its process group, a `setsid` daemon) may hold the streams open, and is
not followed for ever; what the process wrote itself, still on its way, is never cut."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Collection, Mapping
from typing import Any

from .events import Event

#: Once the process has ended, its output stays open only while not silent (a child that left
#: the process group or ignores SIGTERM holds it open, and is not followed): silent = this many
#: checks, CHECK_EVERY apart, with no new byte and none waiting for a slow reader.
QUIET_CHECKS = 5
CHECK_EVERY = 0.1
#: After a stop, output is followed for at most this long once the process has ended.
DRAIN_AFTER_STOP = 2.0
#: Once the process has ended, output that still flows from something it left in a session of
#: its own (a chatty `setsid` daemon) is followed this long at most, counted while new output
#: came and none waited for a slow reader: chains26, the run never ended, and no stop or
#: Ctrl-C could end it.
DRAIN_AFTER_EXIT = 2.0
#: What the process wrote itself may still be on its way when its end is known: an SSH server
#: reports the exit status while the channel's windows (8 MiB a hop, `ssh_launcher.WINDOW`),
#: its buffers and the pipe still hold output, which a slow link takes seconds to bring
#: (review40: 2 MB of `seq`'s own output were cut on a 1.5 MB/s link). Output after the end
#: that comes as a buffer drains counts as the process's own: up to IN_FLIGHT bytes, within
#: DRAIN_FOR seconds, at DRAIN_RATE bytes a second at least on average since the end (a
#: link slower than that still loses it); neither its flow nor a stall of the link
#: (STALL_CHECKS) cuts it. A daemon that writes less, or in bursts, is cut as before
#: (review41: 4 KiB every 2 s kept a run open for an hour).
IN_FLIGHT = 32 << 20
DRAIN_RATE = 40_000
DRAIN_FOR = 20.0
STALL_CHECKS = 30


async def follow(pumps: Mapping[type[Event], asyncio.Future[None]], waiter: asyncio.Future[Any],
                 received: Mapping[type[Event], int], handing: Collection[type[Event]],
                 stopping: Callable[[], bool]) -> None:
    """Until the output ends (its `pumps` done). Once the process has ended (`waiter`), output
    left open is cut (its pumps cancelled) when it is silent (QUIET_CHECKS; STALL_CHECKS while
    a buffer drains), when it has flowed for DRAIN_AFTER_EXIT past what was in flight, or,
    after a stop (`stopping()`), when it has gone on for DRAIN_AFTER_STOP. `received`: bytes
    read per stream so far; `handing`: streams whose chunk waits for a slow reader."""
    clock = asyncio.get_running_loop().time
    ended_at: float | None = None
    at_end = quiet = 0
    flowing, seen = 0.0, -1
    while open_ := [p for p in pumps.values() if not p.done()]:
        if not waiter.done():
            watched: list[asyncio.Future[Any]] = [*open_, waiter]
            await asyncio.wait(watched, return_when=asyncio.FIRST_COMPLETED)
            continue
        now_seen = sum(received.values())
        if ended_at is None:
            ended_at, at_end, seen = clock(), now_seen, now_seen
            await asyncio.wait(open_, timeout=CHECK_EVERY)
            continue
        came, since, elapsed = now_seen - seen, now_seen - at_end, clock() - ended_at
        draining = since < IN_FLIGHT and elapsed < DRAIN_FOR and since >= DRAIN_RATE * elapsed
        if came and not handing:  # a buffer draining, or something left behind writing
            flowing += 0.0 if draining else CHECK_EVERY
        quiet = quiet + 1 if not came and not handing else 0
        seen = now_seen
        if (quiet >= (STALL_CHECKS if draining else QUIET_CHECKS) or flowing >= DRAIN_AFTER_EXIT
                or stopping() and clock() - ended_at >= DRAIN_AFTER_STOP):
            for p in open_:
                p.cancel()
            await asyncio.wait(open_)
            return
        await asyncio.wait(open_, timeout=CHECK_EVERY)
