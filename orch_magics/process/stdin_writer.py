"""A process's stdin as its handle feeds it: in order, never blocking the caller.

`StdinWriter` queues what the caller writes and hands it to the layer (`Writable`: the part of
a layer's backend that takes input) one piece at a time, then EOF; `as_bytes` is what every
front end's input becomes first, checked in the caller's thread.
"""

from __future__ import annotations

import asyncio
import collections
import threading
from typing import Protocol


class Writable(Protocol):
    """Where a process's input goes: a layer's backend (`handle.ProcessBackend`)."""

    async def write(self, data: bytes) -> None: ...
    async def write_eof(self) -> None: ...

    def stdin_gone(self) -> bool:
        """Whether the process is known, without writing, to have closed its stdin (only this
        machine's pipe can tell: a remote end takes input and drops it, as `ssh` does)."""
        ...


def as_bytes(data: object) -> bytes:
    """Input for a process, as bytes of its own: text as UTF-8 (a byte that is no UTF-8, kept
    in a str as a lone surrogate by `os.fsdecode` or `errors="surrogateescape"`, as that byte,
    as a command or a variable is sent), bytes copied; anything else is a TypeError
    (`bytes(3)` would be three NUL bytes)."""
    if isinstance(data, str):
        try:
            return data.encode("utf-8", "surrogateescape")
        except UnicodeEncodeError as exc:
            raise ValueError(f"stdin text holds {data[exc.start]!r} at {exc.start}, a surrogate "
                             f"that stands for no byte: send bytes instead") from None
    if isinstance(data, (bytes, bytearray, memoryview)):
        return bytes(data)
    raise TypeError(f"stdin takes bytes or str, got {type(data).__name__}")


#: Bytes of queued input handed to the layer in one write at most (more when one piece is).
JOINED = 1 << 20
#: Bytes a sender (`LiveRun.send`, `LiveFleet.send`) lets wait for the process to read them
#: before it waits too, as a pipe's writer is held (magics20: 80 MB to a process that read
#: nothing grew the kernel by 76 MiB), and how many it sends between two looks at that.
HELD, LOOK_EVERY = 16 << 20, 1 << 20


class Pace:
    """When a thread's sender looks whether its input waits to be read: once every
    LOOK_EVERY bytes it sent (a look is a round of the loop; many small sends need not pay
    one each). A send that does not wait (a line typed in the stdin box) is not counted."""

    def __init__(self) -> None:
        self._unsent = 0  # bytes sent since the last look
        self._lock = threading.Lock()

    def due(self, size: int) -> bool:
        """Count `size` bytes sent; whether the sender should look now."""
        with self._lock:
            self._unsent += size
            if self._unsent <= LOOK_EVERY:
                return False
            self._unsent = 0
            return True


class StdinWriter:
    """Feeds the process's stdin in order; `write` never blocks, `drain` waits for delivery.

    Data written after the process stopped reading is dropped and `broken` is set: a process
    that exits without reading its input is not an error.
    """

    def __init__(self, backend: Writable, *, tty: bool = False) -> None:
        self._backend = backend
        self._tty = tty
        self._last = b"\n"  # the last byte delivered (a terminal's partial line needs a ^D)
        self._queue: collections.deque[bytes | None] = collections.deque()
        self._pending = 0
        self._wakeup = asyncio.Event()
        self._taken = asyncio.Event()  # a piece was handed on: `below` looks again
        self._flushed = asyncio.Event()
        self._flushed.set()
        self.closed = False
        self._broken: BaseException | None = None
        self.bytes_written = 0
        self._task = asyncio.ensure_future(self._pump())

    def write(self, data: bytes | str) -> None:
        """Queue bytes (str is sent as UTF-8) for the process."""
        if self.closed:
            raise ValueError("stdin is closed (EOF was sent)")
        data = as_bytes(data)
        if not data:
            return
        self._queue.append(data)
        self._pending += len(data)
        self._flushed.clear()
        self._wakeup.set()

    def write_line(self, line: str) -> None:
        """Queue one line; a newline is added unless it already ends with one."""
        self.write(line if line.endswith("\n") else line + "\n")

    def close(self) -> None:
        """Send EOF once everything queued before has been delivered. Idempotent."""
        if self.closed:
            return
        self.closed = True
        self._queue.append(None)
        self._flushed.clear()
        self._wakeup.set()

    @property
    def broken(self) -> BaseException | None:
        """Why input is no longer delivered (a failed write, or a process known to have
        closed its stdin), else None; asked in the caller's thread before it sends."""
        gone = getattr(self._backend, "stdin_gone", None)  # a kind written before it: unknown
        if self._broken is None and not self.closed and gone is not None and gone():
            self._broken = BrokenPipeError("the process closed its stdin")
        return self._broken

    @property
    def pending(self) -> int:
        """Bytes queued but not yet delivered (the piece being written among them)."""
        return self._pending

    async def drain(self) -> None:
        """Wait until everything queued so far has been handed to the layer."""
        await self._flushed.wait()

    async def room(self) -> None:
        """Wait until at most HELD bytes wait to be delivered, the piece being written among
        them (or none ever will be: EOF, a broken stdin, the run over): a caller that sends
        faster than the process reads is held, as a pipe's writer is."""
        while self._pending > HELD and self._broken is None and not self._task.done():
            self._taken.clear()
            await self._taken.wait()

    async def awrite(self, data: bytes | str) -> None:
        """Write and wait for delivery (back-pressure for large inputs)."""
        self.write(data)
        await self.drain()

    async def _pump(self) -> None:
        while True:
            while not self._queue:
                self._flushed.set()
                self._wakeup.clear()
                await self._wakeup.wait()
            item = self._joined()
            if item is None:  # EOF goes even after a failed write (kinds15: a layer's write
                try:  # that failed once left a live process waiting on its stdin for ever)
                    if self.broken is None and self._tty and self._last != b"\n":
                        await self._backend.write(b"\x04")  # ^D sends a partial line: the
                    await self._backend.write_eof()  # EOF's is the next one
                except Exception as exc:  # OSError, EOFError or a layer's own error
                    self._broken = self._broken or exc
                self._flushed.set()
                return
            if self.broken is None:
                try:
                    await self._backend.write(item)
                    self.bytes_written += len(item)
                    self._last = item[-1:]
                except Exception as exc:  # the process closed its stdin or the channel is gone
                    self._broken = exc
            self._pending -= len(item)  # counted until written (review39: a 20 MiB send was
            self._taken.set()  # taken off before its write, and never held)

    def _joined(self) -> bytes | None:
        """The next piece to hand the layer: what is queued up to EOF, joined up to JOINED
        bytes (many small pieces, one write: one pipe write or one SSH message each cost a
        round of the loop), or None for EOF."""
        first = self._queue.popleft()
        if first is None or not self._queue or self._queue[0] is None:
            return first
        pieces, size = [first], len(first)
        while self._queue and self._queue[0] is not None and size < JOINED:
            piece = self._queue.popleft()
            assert piece is not None
            pieces.append(piece)
            size += len(piece)
        return b"".join(pieces)

    def cancel(self) -> None:
        """Stop feeding at once: queued data is dropped and no EOF is sent (the run is over)."""
        self._task.cancel()
        self._taken.set()
