"""The capture sink: keeps stdout and stderr for the RunResult — every byte, or the last N."""

from __future__ import annotations

from ..process.events import Event, Stderr, Stdout
from .buffer import Dropped, MemoryBudget, OutputBuffer


class _Tail:
    """The last `limit` bytes of a stream, at most, in memory, as whole lines.

    Compacted when twice `limit` is held; what goes is counted (bytes, and the lines they
    end), so the result can say how much is missing. The kept part starts at the beginning of
    a line, never inside one (nor inside a UTF-8 character): a line cut by the bound is
    dropped whole.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.data = bytearray()
        self._gone = 0  # bytes compacted away
        self._gone_lines = 0  # newlines among them
        self._gone_ends_line = True  # the last byte compacted away was a newline

    def write(self, chunk: bytes) -> None:
        self.data += chunk
        if len(self.data) > 2 * self.limit:
            cut = len(self.data) - self.limit
            self._gone += cut
            self._gone_lines += self.data.count(b"\n", 0, cut)
            self._gone_ends_line = self.data[cut - 1] == 0x0A
            del self.data[:cut]

    def buffer(self) -> OutputBuffer:
        """The kept lines, and what was dropped before them."""
        before = max(0, len(self.data) - self.limit)  # held bytes that are past the bound
        at_line_start = self.data[before - 1] == 0x0A if before else self._gone_ends_line
        start = before
        if not at_line_start:  # skip the rest of the line the bound cuts
            newline = self.data.find(b"\n", before)
            start = len(self.data) if newline < 0 else newline + 1
        lines = self._gone_lines + self.data.count(b"\n", 0, start)
        if start == len(self.data) and self.data and not self.data.endswith(b"\n"):
            lines += 1  # an unterminated last line, dropped whole, is a line too
        buf = OutputBuffer(dropped=Dropped(self._gone + start, lines))
        buf.write(bytes(self.data[start:]))
        return buf


class Capture:
    """Appends each chunk to a spilling buffer; nothing is dropped, whatever the volume.

    With `limit`, only the last `limit` bytes of each stream are kept (in memory), as whole
    lines, and the buffers say what was dropped (`OutputBuffer.dropped`): for named runs, which
    may print for days and whose output also goes to a log file.
    """

    def __init__(self, limit: int | None = None, budget: MemoryBudget | None = None) -> None:
        """`budget`: the memory this capture shares with others (a fleet's targets)."""
        self._out: OutputBuffer | _Tail = OutputBuffer(budget=budget) if limit is None \
            else _Tail(limit)
        self._err: OutputBuffer | _Tail = OutputBuffer(budget=budget) if limit is None \
            else _Tail(limit)

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
        for buffer in (self._out, self._err):
            if isinstance(buffer, OutputBuffer):
                buffer.seal()
