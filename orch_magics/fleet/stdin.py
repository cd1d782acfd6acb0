"""stdin for every target of a fleet: one source, read once, sent to each target in full.

Text and bytes are shared as they are; any other source (a file, an iterable, an async stream)
is read to its end before the first target starts, so targets that start later (`--parallel`)
get the same input as the first ones.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterable, Iterable

from ..process.handle import as_bytes
from ..stdin import StdinSource


class SharedStdin:
    """One stdin source for many targets. `closes`: EOF after it (else stdin stays open for
    `FleetRun.send`)."""

    def __init__(self, source: StdinSource, closes: bool = True) -> None:
        self._source = source
        self.closes = closes
        self._data: bytes | None = None

    async def prepare(self) -> None:
        """Read a stream source to its end (text and bytes need nothing)."""
        source = self._source
        if source is None or isinstance(source, (bytes, str)):
            return
        if isinstance(source, (bytearray, memoryview)):  # iterating one gives ints
            self._data = bytes(source)
            return
        if isinstance(source, AsyncIterable):
            chunks = [as_bytes(c) async for c in source]
        elif hasattr(source, "read"):
            data = await asyncio.get_running_loop().run_in_executor(None, source.read)
            chunks = [as_bytes(data)]
        elif isinstance(source, Iterable):
            chunks = await asyncio.get_running_loop().run_in_executor(
                None, lambda: [as_bytes(c) for c in source])
        else:
            raise TypeError(f"cannot use {type(source).__name__} as stdin")
        self._data = b"".join(chunks)

    def source(self) -> StdinSource:
        """What one target is fed (the same for every target)."""
        return self._data if self._data is not None else self._source

    def close(self) -> None:
        self.closes = True
