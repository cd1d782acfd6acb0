"""Chunks gathered into batches of a few MiB, each handed to one worker thread, in order.

For sink work that drops the GIL on large inputs (hashing, writing a file). Done per chunk in
a worker, that work takes the GIL back after every chunk and waits for the busy event loop each
time: ~30,000 times per gigabyte of SSH packets. Done per 4 MiB batch: ~250 times. At most
`pending` batches wait for the worker (memory is bounded; a slow worker holds the loop back),
and output smaller than one batch is consumed at `finish`, in the caller's thread, with no
thread started.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable

#: Bytes gathered before a batch is handed to the worker.
BATCH = 4 << 20
#: Batches handed over and not yet consumed, at most.
PENDING = 2


class Batches:
    """`add` chunks (kept, not copied, until a batch is full); `consume` sees each batch once,
    in order, in the worker thread; `finish` returns when everything added is consumed."""

    def __init__(self, consume: Callable[[bytes], None], *, name: str, size: int = BATCH,
                 pending: int = PENDING) -> None:
        self._consume = consume
        self._name = name
        self._size = size
        self._chunks: list[bytes] = []
        self._gathered = 0
        self._full: queue.Queue[bytes | None] = queue.Queue(pending)
        self._worker: threading.Thread | None = None

    def add(self, data: bytes) -> None:
        self._chunks.append(data)
        self._gathered += len(data)
        if self._gathered >= self._size:
            if self._worker is None:
                self._worker = threading.Thread(target=self._work, name=self._name,
                                                 daemon=True)
                self._worker.start()
            self._full.put(self._take())  # blocks while the worker is `pending` batches behind

    def _take(self) -> bytes:
        batch = self._chunks[0] if len(self._chunks) == 1 else b"".join(self._chunks)
        self._chunks, self._gathered = [], 0
        return batch

    def _work(self) -> None:
        while (batch := self._full.get()) is not None:
            self._consume(batch)

    def finish(self) -> None:
        """Consume what is gathered and wait until the worker is done (idempotent)."""
        rest = self._take() if self._chunks else None
        if self._worker is None:
            if rest:
                self._consume(rest)
            return
        if rest:
            self._full.put(rest)
        self._full.put(None)
        self._worker.join()
        self._worker = None
