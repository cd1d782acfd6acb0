"""Helpers for tests that read a live handle's events, or record what a run's sinks are fed."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from orch_magics.process.events import Event, Exit, Stderr, Stdout
from orch_magics.process.handle import ProcessHandle


async def read_line(events: AsyncIterator[Event], timeout: float = 10) -> bytes:
    """Stdout chunks up to a newline: a line may arrive in several chunks."""
    data = b""
    while not data.endswith(b"\n"):
        event = await asyncio.wait_for(events.__anext__(), timeout)
        assert isinstance(event, Stdout), event
        data += event.data
    return data


async def collect(handle: ProcessHandle) -> tuple[bytes, bytes, Exit]:
    """Everything a handle emits: (stdout, stderr, Exit)."""
    out, err = bytearray(), bytearray()
    async for event in handle.events():
        if isinstance(event, Stdout):
            out += event.data
        elif isinstance(event, Stderr):
            err += event.data
        else:
            return bytes(out), bytes(err), event
    raise AssertionError("no Exit event")


class Recorder:
    """A sink that keeps every event it is fed: what a live display would have been shown."""

    def __init__(self) -> None:
        self.events: list[Event] = []

    def feed(self, event: Event) -> None:
        self.events.append(event)

    def close(self) -> None:
        pass

    def output(self) -> bytes:
        """The stdout and stderr bytes it was fed, in the order they came."""
        return b"".join(e.data for e in self.events if isinstance(e, (Stdout, Stderr)))
