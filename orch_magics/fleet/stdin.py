"""stdin for every target of a fleet: one source, streamed to each target as it arrives.

Text and bytes are shared as they are. Any other source (a file, an iterable, an async stream,
the CLI's piped stdin) is read once, chunk by chunk, and every target gets every chunk from the
first: memory stays bounded and the slowest running target sets the pace (back-pressure).
A target runs once its process takes input: one still connecting (a host that never answers)
holds nobody back until `KEEP_FOR_QUEUED` bytes are kept for it; then reading waits for it
(its connect ends, one way or the other), so a process that starts always gets its input
whole (review18: one dropped while it connected was started, then stopped). Targets still
queued behind `--parallel` need the input from its start too, so it is kept for them up to
`KEEP_FOR_QUEUED` bytes; past that, they fail with a clear error instead of starting with part
of it. A blocking source is read by a daemon thread that a stop never waits for.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import threading
from collections.abc import AsyncIterable, AsyncIterator, Iterable

from ..errors import OrchError
from ..process.stdin_writer import as_bytes
from ..stdin import StdinSource, chunks_of

#: Bytes read ahead of the slowest running target before reading waits for it.
AHEAD = 4 << 20
#: Bytes kept from the start of a stream for targets that have not started yet.
KEEP_FOR_QUEUED = 256 << 20
#: What rerun() can send again of a stream (a longer one is not kept).
KEEP_FOR_RERUN = 16 << 20


class SharedStdin:
    """One stdin source for many targets. `closes`: EOF after it (else stdin stays open for
    `FleetRun.send`). `join(label)` before a target is queued, `attach` when it runs, `leave`
    when it ends."""

    def __init__(self, source: StdinSource, closes: bool = True) -> None:
        if isinstance(source, (bytearray, memoryview)):  # iterating one gives ints
            source = bytes(source)
        self._source = source
        self.closes = closes
        self._streamed = source is not None and not isinstance(source, (bytes, str))
        if self._streamed and not isinstance(source, (AsyncIterable, Iterable)) \
                and not hasattr(source, "read"):
            raise TypeError(f"cannot use {type(source).__name__} as stdin")
        self._chunks: collections.deque[bytes] = collections.deque()
        self._starts: collections.deque[int] = collections.deque()  # each chunk's offset
        self._first = 0  # the index of _chunks[0] among every chunk read
        self._total = 0  # bytes read
        self._replayed = 0
        self._readers: dict[str, _Reader] = {}
        #: How many readers are at each chunk index: what `_trim` may drop, found in O(1) (a
        #: min over every reader, at each target's end, made a 20,000-target stop take 40 s).
        self._at: collections.Counter[int] = collections.Counter()
        self._ended = self._stopped = False
        self._error: BaseException | None = None
        self._replay: list[bytes] | None = [] if self._streamed else None
        self._live = False  # input came while the fleet ran (send(), a stdin box)
        self._news = asyncio.Event()
        self._pump: asyncio.Task[None] | None = None
        self._stop = threading.Event()

    # ---- targets ------------------------------------------------------------------------------
    def join(self, label: str) -> None:
        """A target that will want the input from its first byte."""
        if self._streamed:
            self._readers[label] = _Reader(self._first)
            self._at[self._first] += 1

    def attach(self, label: str) -> StdinSource:
        """What the target `label`, now starting, is fed. It sets the pace once its process
        takes the first chunk: while it connects it is still queued, so a host that never
        answers holds no other target's input back (fleets9). Raises OrchError when it
        waited so long that the start of the input is gone."""
        if not self._streamed:
            return self._source
        self._reader(label).attached = True
        if self._pump is None:
            self._pump = asyncio.ensure_future(self._read_source())
        return self._chunks_for(label)

    def _reader(self, label: str) -> _Reader:
        reader = self._readers.get(label)
        if reader is None:
            raise OrchError(f"stdin to this fleet: more than {KEEP_FOR_QUEUED >> 20} MiB came "
                            f"before this target could start (--parallel); "
                            f"pass a file's bytes or raise --parallel")
        return reader

    def leave(self, label: str) -> None:
        """The target ended (or never starts): it holds no input back any more."""
        if (reader := self._readers.pop(label, None)) is not None:
            self._at[reader.next] -= 1
            self._trim()
            self._changed()
            if not self._readers and self._pump is not None:
                self.stop()

    def stop(self) -> None:
        """Read no more (a stop, or nobody left to feed); a reader thread is left behind."""
        self._stop.set()
        self._stopped = True
        if self._pump is not None:
            self._pump.cancel()
        self._changed()

    def close(self) -> None:
        self.closes = True

    def sent_live(self) -> None:
        """Input came through send() (a stdin box): a rerun has no copy of it."""
        self._live = True

    def replay(self) -> bytes | str | None:
        """The whole input again (for rerun); raises OrchError when it was not kept (a stream
        not read to its end, input sent while the fleet ran)."""
        if self._live:
            raise OrchError("stdin of that run was sent while it ran (send(), a stdin box): "
                            "rerun() cannot send it again; run again with stdin=")
        if not self._streamed:
            return self._source if isinstance(self._source, (bytes, str)) else None
        if self._replay is None or not self._ended or self._error is not None:
            raise OrchError(f"stdin of that run was a stream that was not read to its end or "
                            f"was longer than {KEEP_FOR_RERUN >> 20} MiB: rerun() cannot "
                            f"send it again; run again with stdin=")
        return b"".join(self._replay)

    # ---- the stream ---------------------------------------------------------------------------
    async def _chunks_for(self, label: str) -> AsyncIterator[bytes]:
        try:
            reader = self._reader(label)  # its process has started: it sets the pace now
            reader.running = True
            self._changed()
            while True:
                index = reader.next - self._first
                if index < len(self._chunks):
                    chunk = self._chunks[index]
                    self._at[reader.next] -= 1
                    reader.next += 1
                    self._at[reader.next] += 1
                    self._trim()
                    self._changed()
                    yield chunk
                elif self._error is not None:
                    raise self._error
                elif self._ended or self._stopped or label not in self._readers:
                    return
                else:
                    await self._news.wait()
        finally:
            self.leave(label)

    async def _read_source(self) -> None:
        try:
            async with contextlib.aclosing(chunks_of(self._source, self._stop)) as chunks:
                async for data in chunks:
                    while self._readers and self._too_far_ahead():
                        await self._news.wait()
                    if not self._readers:
                        return
                    self._keep(as_bytes(data))
        except Exception as exc:  # a source that breaks part-way: every target is stopped
            self._error = exc
        self._ended = True
        self._changed()

    def _keep(self, data: bytes) -> None:
        if not data:
            return
        self._chunks.append(data)
        self._starts.append(self._total)
        self._total += len(data)
        if self._replay is not None:
            self._replay.append(data)
            self._replayed += len(data)
            if self._replayed > KEEP_FOR_RERUN:
                self._replay = None
        if self._kept > KEEP_FOR_QUEUED:  # queued targets can no longer get it all
            for label in [k for k, r in self._readers.items() if not r.attached]:
                self._at[self._readers.pop(label).next] -= 1
            self._trim()
        self._changed()

    def _too_far_ahead(self) -> bool:
        running = [r.next for r in self._readers.values() if r.running]
        connecting = [r.next for r in self._readers.values() if r.attached and not r.running]
        if running and self._bytes_after(min(running)) >= AHEAD:
            return True
        if connecting:  # kept for them, never dropped: a started process gets all its input
            bound = KEEP_FOR_QUEUED if running else min(AHEAD, KEEP_FOR_QUEUED)
            return self._bytes_after(min(connecting)) >= bound
        return not running and self._kept >= KEEP_FOR_QUEUED  # between two targets

    @property
    def _kept(self) -> int:
        """Bytes held for targets that have not taken them yet."""
        return self._bytes_after(self._first)

    def _bytes_after(self, index: int) -> int:
        skip = index - self._first
        return self._total - self._starts[skip] if skip < len(self._starts) else 0

    def _trim(self) -> None:
        """Drop the chunks every remaining target has taken (no reader is at the oldest)."""
        while self._chunks and self._at[self._first] <= 0:
            del self._at[self._first]
            self._chunks.popleft()
            self._starts.popleft()
            self._first += 1

    def _changed(self) -> None:
        self._news.set()
        self._news = asyncio.Event()


class _Reader:
    """Where one target is in the stream."""

    def __init__(self, first: int) -> None:
        self.next = first
        self.attached = False  # starting: connecting, its process not yet taking input
        self.running = False  # its process takes input: it sets the pace
