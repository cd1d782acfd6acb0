"""An append-only byte buffer that spills to a temporary file past a memory threshold.

Writing costs one copy per chunk and nothing per line: no newline is counted while output
streams (`line_count` scans once, when someone asks). Once spilled, chunks are gathered in one
reused block and written to the file in blocks of `BLOCK` bytes, not one system call per chunk.
The spill file is unlinked as soon as it is made: the disk space goes back when the buffer is
closed or its process ends, however it ends (a killed kernel leaves no 300 MB file in /tmp).
"""

from __future__ import annotations

import errno
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import IO, Any

from ..errors import OrchError
from ..text import human_size
from . import lines as text_model

#: Bytes kept in memory before the buffer moves to a temporary file.
SPILL_THRESHOLD = 16 << 20
#: Size of the writes to the spill file.
BLOCK = 1 << 20
#: A buffer smaller than this never spills for a shared budget: each spilled buffer holds a
#: file descriptor, and 1,000 targets printing a little each must not hold 1,000 more.
SMALLEST_SPILL = 1 << 20


class MemoryBudget:
    """Bytes of output that many buffers may hold in memory together (a fleet's targets):
    a buffer that cannot take more from it spills to disk and gives back what it held, so a
    fleet of N targets holds about `size` bytes of output (plus less than SMALLEST_SPILL per
    stream that never reached it), not N × SPILL_THRESHOLD.
    Used from one thread (the loop that runs the fleet)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.used = 0

    def take(self, n: int, anyway: bool = False) -> bool:
        """Take `n` bytes if there is room for them (`anyway`: in any case)."""
        if self.used + n > self.size and not anyway:
            return False
        self.used += n
        return True

    def give(self, n: int) -> None:
        self.used -= n


@dataclass(frozen=True)
class Dropped:
    """What a bounded capture did not keep of a stream: its first `size` bytes, which held
    `lines` whole lines (the kept part starts at the beginning of a line)."""

    size: int = 0
    lines: int = 0

    def __bool__(self) -> bool:
        return self.size > 0


class OutputBuffer:
    """Keeps every byte of one stream; large outputs live on disk, not in RAM.

    `dropped` says what came before the first byte held, when a bounded capture (named runs)
    built it; an ordinary capture drops nothing.
    """

    def __init__(self, threshold: int = SPILL_THRESHOLD, dropped: Dropped = Dropped(),
                 budget: MemoryBudget | None = None) -> None:
        """`budget`: shared with other buffers; past it this one spills too."""
        self._threshold = threshold
        self._budget = budget
        self._mem = bytearray()
        self._file: IO[bytes] | None = None
        self._block = memoryview(bytearray(0))
        self._fill = 0
        self._counted = (0, 0)  # (size, lines) of the last line count
        self.size = 0
        self.dropped = dropped
        #: Why the output past `size` was not kept (its spill file took no more), and how much
        #: of it came: see `_failed`. The run goes on; its result says so (`unkept`).
        self.failure: str | None = None
        self.lost = 0
        self._closed = False

    @property
    def spilled(self) -> bool:
        """True once the data lives in a temporary file."""
        return self._file is not None

    def write(self, data: bytes) -> None:
        """Append a chunk: into memory, or into the block that goes to the spill file."""
        size = len(data)
        if not size:
            return
        if self.failure is not None:
            self.lost += size
            return
        self.size += size
        try:
            self._append(data, size)
        except OSError as exc:
            self._failed(exc)

    def _append(self, data: bytes, size: int) -> None:
        if self._file is None:
            if self.size <= self._threshold and (
                    self._budget is None
                    or self._budget.take(size, anyway=self.size < SMALLEST_SPILL)):
                self._mem += data
                return
            self._spill()
        if not self._block:
            self._block = memoryview(bytearray(BLOCK))
        end = self._fill + size
        if end <= BLOCK:
            self._block[self._fill:end] = data
            self._fill = end
            if end == BLOCK:
                self._drain()
            return
        self._drain()
        if size >= BLOCK:
            self._write_all(data)
        else:
            self._block[:size] = data
            self._fill = size

    def _spill(self) -> None:
        """Move to a temporary file; the data in memory is its first block."""
        import tempfile  # only output past the threshold needs it (cold start: issue 15)

        fd, name = tempfile.mkstemp(prefix="orch-output-")
        os.unlink(name)  # nameless from now on: /proc/PID/fd still shows it as "… (deleted)"
        self._file = open(fd, "wb", buffering=0)
        try:
            self._write_all(self._mem)
        except OSError:  # memory still holds it all: kept there
            self._file.close()
            self._file = None
            raise
        if self._budget is not None:
            self._budget.give(len(self._mem))
        self._mem = bytearray()

    def _failed(self, exc: OSError) -> None:
        """The spill file cannot be made or took no more (a full or read-only $TMPDIR): what
        it or memory holds is kept, the rest only counted (`lost`), the run not failed here."""
        import tempfile

        held = len(self._mem) if self._file is None else os.fstat(self._file.fileno()).st_size
        self.lost, self.size = self.size - held, held
        self._block, self._fill = memoryview(bytearray(0)), 0
        full = exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)  # else: EMFILE, EACCES…
        self.failure = (f"a temporary file in {tempfile.gettempdir()} "
                        f"{'took no more' if full else 'failed'}: {exc.strerror or exc}"
                        + ("; set TMPDIR to a folder with room" if full else ""))

    @property
    def unkept(self) -> str | None:
        """What of the stream this buffer does not hold, and why (None: it holds it all)."""
        if self.failure is None:
            return None
        return (f"{human_size(self.lost)} past its first {human_size(self.size)} not kept "
                f"({self.failure})")

    def seal(self) -> None:
        """The stream has ended: write out the block and free it (a spilled buffer kept in a
        result holds no 1 MiB block; a later write would make a new one)."""
        if self._file is not None:
            self._written_out()
            self._block = memoryview(bytearray(0))

    def _written_out(self) -> None:
        """The block written to the spill file (what it cannot take is counted lost)."""
        try:
            self._drain()
        except OSError as exc:
            self._failed(exc)

    @property
    def memory(self) -> int:
        """Bytes this buffer holds in memory (its data, or its block once spilled)."""
        return len(self._mem) + len(self._block)

    def _drain(self) -> None:
        if self._fill:
            self._write_all(self._block[:self._fill])
            self._fill = 0

    def _write_all(self, data: bytes | bytearray | memoryview) -> None:
        assert self._file is not None
        view = memoryview(data)
        while view:
            view = view[self._file.write(view) or 0:]

    def _spilled_chunks(self, start: int, size: int) -> Iterator[bytes]:
        """The spill file's bytes from `start` to its end (the block written out first)."""
        assert self._file is not None
        self._written_out()
        while chunk := os.pread(self._file.fileno(), size, start):
            start += len(chunk)
            yield chunk

    @property
    def line_count(self) -> int:
        """How many lines `iter_lines` yields (counted on demand, then kept)."""
        if self._counted[0] != self.size:
            self._counted = (self.size, text_model.count_lines(self.iter_chunks()))
        return self._counted[1]

    def getvalue(self) -> bytes:
        """All bytes (reads the file back when spilled: mind the size)."""
        self._readable()
        if self._file is None:
            return bytes(self._mem)
        return b"".join(self.iter_chunks(max(self.size, 1)))

    def iter_chunks(self, size: int = 1 << 20) -> Iterator[bytes]:
        """The bytes in chunks, without loading them all."""
        self._readable()
        if self._file is None:
            for i in range(0, len(self._mem), size):
                yield bytes(self._mem[i:i + size])  # a copy: writing on stays possible
            return
        yield from self._spilled_chunks(0, size)

    def iter_lines(self) -> Iterator[str]:
        """Decoded lines by the one line rule (`sinks.lines`), read incrementally."""
        return text_model.iter_lines(self.iter_chunks())

    def tail(self, max_bytes: int) -> bytes:
        """The last `max_bytes` bytes."""
        self._readable()
        if max_bytes <= 0:
            return b""
        if self._file is None:
            return bytes(self._mem[-max_bytes:])
        return b"".join(self._spilled_chunks(max(0, self.size - max_bytes), max_bytes))

    def __getstate__(self) -> dict[str, Any]:
        """Pickled as its bytes (a spilled one's read back from its file): a result sent back
        by a worker process (multiprocessing, concurrent.futures) keeps its output. A shared
        budget stays behind: the copy is a value of its own."""
        return self._state([self.getvalue()])

    def __setstate__(self, state: dict[str, Any]) -> None:
        """Written again, as a run's output is: past the threshold into a spill file of its
        own."""
        self.__init__(state["threshold"], state["dropped"])  # type: ignore[misc]
        for chunk in state["chunks"]:
            self.write(chunk)
        self.seal()
        if self.failure is not None:  # this copy could not keep what it was given
            raise OrchError(f"an output could not be copied: {self.failure}")
        self._counted = state["counted"]
        self.failure, self.lost = state.get("failure"), state.get("lost", 0)

    def __deepcopy__(self, memo: dict[int, object]) -> OutputBuffer:
        """A copy with its own memory or spill file, written a chunk at a time: a spilled
        buffer is never read into memory whole."""
        copy = OutputBuffer.__new__(OutputBuffer)
        copy.__setstate__(self._state(self.iter_chunks()))
        return copy

    def _state(self, chunks: Iterable[bytes]) -> dict[str, Any]:
        return {"threshold": self._threshold, "dropped": self.dropped,
                "counted": self._counted, "chunks": chunks, "failure": self.failure,
                "lost": self.lost}

    def close(self) -> None:
        """Give the memory or the spill file's disk space back now; reading it again is an
        error (`_readable`)."""
        self._closed = True
        self._mem, self._block, self._fill = bytearray(), memoryview(bytearray(0)), 0
        if self._file is not None:
            self._file.close()

    @property
    def closed(self) -> bool:
        """Whether `close()` gave its bytes back (they cannot be read any more)."""
        return self._closed

    def _readable(self) -> None:
        if self._closed:
            raise OrchError("this output was closed (RunResult.close()): its bytes are gone")
