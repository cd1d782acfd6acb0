"""A short script's output at a place: what a layer looks up there to find or to explain (a
rootless podman socket, the users a misspelt `user:` may mean), never the run itself."""

from __future__ import annotations

import asyncio

from ..errors import OrchError
from ..process.command import Command
from ..process.events import Stdout
from ..process.handle import ProcessHandle
from .base import Launcher

#: Seconds a look-up may take, start to end.
LOOKUP_TIMEOUT = 10.0


async def output_at(place: Launcher, script: str, timeout: float = LOOKUP_TIMEOUT) -> bytes | None:
    """The stdout of `/bin/sh -c script` run at `place`, or None when it cannot be had within
    `timeout` s (the place refused, the link broke): a look-up is best effort."""
    handle: ProcessHandle | None = None
    try:
        handle = await asyncio.wait_for(place.launch(Command(("/bin/sh", "-c", script))), timeout)
        handle.stdin.close()
        return await asyncio.wait_for(_stdout_of(handle), timeout)
    except (OrchError, OSError, asyncio.TimeoutError):
        if handle is not None:
            handle.discard_output()
            await handle.stop((0.5, 0.5))
        return None


async def _stdout_of(handle: ProcessHandle) -> bytes:
    out = b""
    async for event in handle.events():
        if isinstance(event, Stdout):
            out += event.data
    return out
