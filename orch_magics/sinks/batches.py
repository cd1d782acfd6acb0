"""Chunks handed in batches of a few MiB to one worker thread, which consumes them in order.

For sink work that drops the GIL on large inputs (hashing, writing a file): it runs on the
other core while the event loop relays. Chunks go over as they came, in lists of ~4 MiB: one
queue hand-over and one wake-up per batch, not per SSH packet, and no copy in the event loop's
thread (copying every byte into batch buffers there made a one-hop gigabyte get ~15% slower:
the loop's thread is what bounds a relay). At most `pending` batches wait for the worker, so
memory is bounded and a slow worker holds the loop back. Output smaller than one batch is
consumed at `finish`, in the caller's thread, with no thread started. `size=0`: each chunk is
consumed as it comes, in the caller's thread (for cheap work where batches would cost more
memory than they save time: `audit.digest` in a crowded fleet).
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable

#: Bytes gathered before a batch is handed to the worker.
BATCH = 4 << 20
#: Batches handed over and not yet consumed, at most.
PENDING = 4


class Batches:
    """`add` chunks; `consume` sees every chunk once, in order (in the worker thread once more
    than a batch has come); `finish` returns when everything is consumed."""

    def __init__(self, consume: Callable[[bytes], None], *, name: str, size: int = BATCH,
                 pending: int = PENDING) -> None:
        self._consume = consume
        self._name = name
        self._size = size
        self._batch: list[bytes] = []
        self._gathered = 0
        self._full: queue.Queue[list[bytes] | None] = queue.Queue(pending)
        self._worker: threading.Thread | None = None
        self._error: Exception | None = None  # what `consume` raised in the worker

    def add(self, data: bytes) -> None:
        if not self._size:
            self._consume(data)
            return
        self._batch.append(data)
        self._gathered += len(data)
        if self._gathered >= self._size:
            if self._worker is None:
                self._worker = threading.Thread(target=self._work, name=self._name,
                                                daemon=True)
                self._worker.start()
            self._full.put(self._batch)  # blocks while the worker is `pending` batches behind
            self._batch, self._gathered = [], 0

    def _work(self) -> None:
        """Consume batches until told to end. After a failed `consume` the batches are still
        taken (and dropped): a worker that stopped taking them would block `add`, and with it
        the event loop, for ever; `finish` raises the failure."""
        while (batch := self._full.get()) is not None:
            if self._error is None:
                try:
                    for data in batch:
                        self._consume(data)
                except Exception as exc:
                    self._error = exc

    def finish(self) -> None:
        """Consume what is gathered and wait until the worker is done (idempotent); raises
        what `consume` raised in the worker."""
        rest, self._batch, self._gathered = self._batch, [], 0
        if self._worker is None:
            for data in rest:
                self._consume(data)
            return
        if rest:
            self._full.put(rest)
        self._full.put(None)
        self._worker.join()
        self._worker = None
        if (error := self._error) is not None:
            self._error = None
            raise error
