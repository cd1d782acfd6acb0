"""The orch side of the throughput benchmarks: SIZE bytes out of a chain, or into it."""

from __future__ import annotations

import time
from typing import Protocol

from orch_magics.process.command import Command
from orch_magics.process.events import Exit, Stdout
from orch_magics.process.handle import ProcessHandle

CHUNK = 1 << 20


class CanLaunch(Protocol):
    async def launch(self, command: Command) -> ProcessHandle: ...


async def orch_stdout(chain: CanLaunch, size: int) -> tuple[float, int]:
    """Wall time and bytes received of `head -c SIZE /dev/zero` at the end of the chain."""
    t0 = time.perf_counter()
    handle = await chain.launch(Command(("head", "-c", str(size), "/dev/zero")))
    handle.stdin.close()
    n = 0
    async for event in handle.events():
        if isinstance(event, Stdout):
            n += len(event.data)
        elif isinstance(event, Exit) and event.code != 0:
            raise RuntimeError(f"run failed: {event}")
    return time.perf_counter() - t0, n


async def orch_stdin(chain: CanLaunch, size: int) -> tuple[float, int]:
    """Wall time and the count `wc -c` reports for SIZE zero bytes written to its stdin."""
    t0 = time.perf_counter()
    handle = await chain.launch(Command(("wc", "-c")))
    block = bytes(CHUNK)
    left = size
    while left > 0:
        await handle.stdin.awrite(block[:min(CHUNK, left)])
        left -= CHUNK
    handle.stdin.close()
    out = b""
    async for event in handle.events():
        if isinstance(event, Stdout):
            out += event.data
    return time.perf_counter() - t0, int(out.split()[0])
