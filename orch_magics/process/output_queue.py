"""The output a process made and its reader has not taken yet: bounded in chunks and in bytes.

A full queue pauses the pumps that fill it, so a slow reader pauses the process (back-pressure)
instead of memory growing. The byte bound is shared by the runs going at once
(`process.sharing`): a fleet of 120 chatty targets held up to 64 MiB each (fleets9).
"""

from __future__ import annotations

import asyncio

from .events import Event, Exit
from .sharing import share

#: How many output chunks may wait for a slow consumer before the process is paused.
QUEUE_CHUNKS = 64
#: How many bytes may wait so, in all runs going at once (each at least QUEUE_BYTES_MIN).
QUEUE_BYTES, QUEUE_BYTES_MIN = 64 << 20, 1 << 20


class OutputQueue:
    """Events in order; `put` returns once there is room for more."""

    def __init__(self) -> None:
        self._events: asyncio.Queue[Event] = asyncio.Queue(QUEUE_CHUNKS)
        self._bytes, self._limit = 0, share(QUEUE_BYTES, QUEUE_BYTES_MIN)
        self._room = asyncio.Event()  # set while fewer bytes than the limit wait
        self._room.set()

    async def put(self, event: Event) -> None:
        await self._events.put(event)
        if not isinstance(event, Exit):
            self._bytes += len(event.data)
            if self._bytes >= self._limit:
                self._room.clear()
                await self._room.wait()

    async def get(self) -> Event:
        event = await self._events.get()
        if not isinstance(event, Exit):
            self._taken(len(event.data))
        return event

    def drop_all(self) -> None:
        """Forget what waits (the reader has gone)."""
        while not self._events.empty():
            self._events.get_nowait()
        self._taken(self._bytes)

    def _taken(self, size: int) -> None:
        self._bytes -= size
        if self._bytes < self._limit:
            self._room.set()
