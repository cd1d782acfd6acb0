"""Chunks gathered into batches of a few MiB, each handed to one worker thread, in order.

For sink work that drops the GIL on large inputs (hashing, writing a file). Done per chunk in
a worker, that work takes the GIL back after every chunk and waits for the busy event loop each
time: ~30,000 times per gigabyte of SSH packets. Done per 4 MiB batch: ~250 times. Chunks are
copied into a few reused buffers (no allocation and no page faults per batch); at most
`pending` full buffers wait for the worker, so memory is bounded and a slow worker holds the
loop back. Output smaller than one batch is kept as it came and consumed at `finish`, in the
caller's thread: no thread, no buffer.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable

#: Bytes per batch handed to the worker.
BATCH = 4 << 20
#: Full batches handed over and not yet consumed, at most.
PENDING = 2

_Full = tuple[bytearray, int]


class Batches:
    """`add` chunks; `consume` sees each batch once, in order, in the worker thread (a view
    that is only valid during the call); `finish` returns when everything is consumed."""

    def __init__(self, consume: Callable[[memoryview], None], *, name: str,
                 size: int = BATCH, pending: int = PENDING) -> None:
        self._consume = consume
        self._name = name
        self._size = size
        self._first: list[bytes] | None = []   # chunks as they came, until a batch is full
        self._gathered = 0
        self._buffer: bytearray | None = None
        self._filled = 0
        self._free: queue.SimpleQueue[bytearray] = queue.SimpleQueue()
        self._full: queue.Queue[_Full | None] = queue.Queue(pending)
        self._worker: threading.Thread | None = None

    def add(self, data: bytes) -> None:
        if self._first is not None:
            self._first.append(data)
            self._gathered += len(data)
            if self._gathered < self._size:
                return
            data, self._first = b"".join(self._first), None  # once: from now on, buffers
            self._worker = threading.Thread(target=self._work, name=self._name, daemon=True)
            self._worker.start()
        view, done = memoryview(data), 0
        while done < len(view):
            if self._buffer is None:
                self._buffer, self._filled = self._take(), 0
            room = min(self._size - self._filled, len(view) - done)
            self._buffer[self._filled:self._filled + room] = view[done:done + room]
            self._filled += room
            done += room
            if self._filled == self._size:
                self._hand_over()

    def _take(self) -> bytearray:
        """A buffer the worker gave back, else a new one (at most pending + 2 exist)."""
        try:
            return self._free.get_nowait()
        except queue.Empty:
            return bytearray(self._size)

    def _hand_over(self) -> None:
        assert self._buffer is not None
        self._full.put((self._buffer, self._filled))  # blocks while the worker is behind
        self._buffer = None

    def _work(self) -> None:
        while (full := self._full.get()) is not None:
            buffer, filled = full
            self._consume(memoryview(buffer)[:filled])
            self._free.put(buffer)

    def finish(self) -> None:
        """Consume what is gathered and wait until the worker is done (idempotent)."""
        if self._first is not None:
            chunks, self._first, self._gathered = self._first, [], 0
            if chunks:
                self._consume(memoryview(chunks[0] if len(chunks) == 1 else b"".join(chunks)))
            return
        if self._buffer is not None and self._filled:
            self._hand_over()
        if self._worker is not None:
            self._full.put(None)
            self._worker.join()
            self._worker = None
