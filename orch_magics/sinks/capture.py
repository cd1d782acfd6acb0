"""The capture sink: keeps stdout and stderr for the RunResult — every byte, or the last N."""

from __future__ import annotations

from ..process.events import Event, Stderr, Stdout
from .buffer import OutputBuffer


class _Tail:
    """The last `limit` bytes of a stream, in memory (compacted when twice that is held)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.data = bytearray()

    def write(self, chunk: bytes) -> None:
        self.data += chunk
        if len(self.data) > 2 * self.limit:
            del self.data[:-self.limit]

    def buffer(self) -> OutputBuffer:
        buf = OutputBuffer()
        buf.write(bytes(self.data[-self.limit:]))
        return buf


class Capture:
    """Appends each chunk to a spilling buffer; nothing is dropped, whatever the volume.

    With `limit`, only the last `limit` bytes of each stream are kept (in memory): for runs
    that may print for days, whose whole output lives in a log file instead.
    """

    def __init__(self, limit: int | None = None) -> None:
        self._out: OutputBuffer | _Tail = OutputBuffer() if limit is None else _Tail(limit)
        self._err: OutputBuffer | _Tail = OutputBuffer() if limit is None else _Tail(limit)

    @property
    def stdout(self) -> OutputBuffer:
        return self._out if isinstance(self._out, OutputBuffer) else self._out.buffer()

    @property
    def stderr(self) -> OutputBuffer:
        return self._err if isinstance(self._err, OutputBuffer) else self._err.buffer()

    def feed(self, event: Event) -> None:
        if type(event) is Stdout:
            self._out.write(event.data)
        elif type(event) is Stderr:
            self._err.write(event.data)

    def close(self) -> None:
        pass
