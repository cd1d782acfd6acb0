"""The audit's output digest: bytes and sha256 of the stdout and stderr a run shows.

The hashing runs in a worker thread on the other core. hashlib drops the GIL while it hashes,
but takes it again after every `update`: fed one SSH packet or pipe read at a time, the worker
waited for the busy relay thread's GIL some thirty thousand times per gigabyte. So chunks are
copied into a few reused 4 MiB buffers (a memcpy, no allocation, no page faults) and the worker
hashes each full buffer in one call. The first buffer's worth of each stream is hashed inline
(about a millisecond), so a run with little output starts no thread and touches no buffer.
"""

from __future__ import annotations

import hashlib
import queue
import threading

from ..process.events import Event, Stderr, Stdout

#: Size of one buffer handed to the hashing thread.
BATCH = 4 << 20
#: Full buffers waiting for the worker, at most: bounds the memory held for hashing.
MAX_PENDING = 3

_Full = tuple["hashlib._Hash", bytearray, int]


class _Stream:
    """One stream's hasher, byte count and the buffer being filled."""

    __slots__ = ("hasher", "size", "buffer", "filled")

    def __init__(self) -> None:
        self.hasher = hashlib.sha256()
        self.size = 0
        self.buffer: bytearray | None = None
        self.filled = 0


class OutputDigest:
    """A sink counting and hashing the (masked, filtered) stdout and stderr a run shows."""

    def __init__(self, *, hashing: bool = True) -> None:
        self._hashing = hashing  # False: count bytes only (`audit: {digests: false}`)
        self._streams = {Stdout: _Stream(), Stderr: _Stream()}
        self._free: list[bytearray] = []
        self._returned: queue.SimpleQueue[bytearray] = queue.SimpleQueue()
        self._pending: queue.Queue[_Full | None] = queue.Queue(MAX_PENDING)
        self._worker: threading.Thread | None = None

    def feed(self, event: Event) -> None:
        kind = type(event)
        if kind is not Stdout and kind is not Stderr:
            return
        data: bytes = event.data  # type: ignore[union-attr]
        stream = self._streams[kind]
        stream.size += len(data)
        if not self._hashing:
            return
        if stream.size <= BATCH:
            stream.hasher.update(data)
            return
        view, done = memoryview(data), 0
        while done < len(view):
            if stream.buffer is None:
                stream.buffer, stream.filled = self._take(), 0
            room = min(BATCH - stream.filled, len(view) - done)
            stream.buffer[stream.filled:stream.filled + room] = view[done:done + room]
            stream.filled += room
            done += room
            if stream.filled == BATCH:
                self._hand_over(stream)

    def _take(self) -> bytearray:
        """A free buffer: one the worker gave back, else a new one (at most MAX_PENDING + 3)."""
        while not self._returned.empty():
            self._free.append(self._returned.get())
        return self._free.pop() if self._free else bytearray(BATCH)

    def _hand_over(self, stream: _Stream) -> None:
        assert stream.buffer is not None
        if self._worker is None:
            self._worker = threading.Thread(target=self._hash, name="orch-audit", daemon=True)
            self._worker.start()
        self._pending.put((stream.hasher, stream.buffer, stream.filled))  # blocks if behind
        stream.buffer = None

    def _hash(self) -> None:
        while (full := self._pending.get()) is not None:
            hasher, buffer, filled = full
            hasher.update(memoryview(buffer)[:filled])
            self._returned.put(buffer)

    def close(self) -> None:
        pass

    def finish(self) -> tuple[tuple[int, str | None], tuple[int, str | None]]:
        """(bytes, sha256 or None when not hashing) of stdout and of stderr, once every chunk
        is hashed."""
        if self._worker is not None:
            self._pending.put(None)
            self._worker.join()
            self._worker = None
        for stream in self._streams.values():  # the last, partial buffers: after the worker's
            if stream.buffer is not None:
                stream.hasher.update(memoryview(stream.buffer)[:stream.filled])
                stream.buffer = None
        out, err = ((s.size, s.hasher.hexdigest() if self._hashing else None)
                    for s in self._streams.values())
        return out, err
