"""Our fds 1 and 2 written by a thread of their own, so a reader that does not read never
blocks the event loop.

A paused `| less`, a terminal stopped with Ctrl-S or a stuck consumer makes a write wait; on
the loop that wait kept Ctrl-C, TERM and `--timeout` from being handled at all (the run and
its far process went on). Here only the thread waits: the loop awaits `drain` (back-pressure,
so a slow reader still slows the process down) and can stop waiting when the run must end.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import select
import sys
import threading
from collections import deque
from collections.abc import Callable

from ..process.pipes import pipe_capacity, unread

#: Bytes that may wait for the thread before a run's output pump waits for them (1 MiB: what a
#: grown pipe holds, so reading and writing overlap).
LOW_WATER = 1 << 20
#: Bytes given to one write at most when the pipe has no room for a whole chunk: a blocking
#: write returns only once the reader has taken nearly all of it, and until then a reader
#: that reads slowly but steadily looked like one that reads nothing (`Output.finish`).
#: A chunk the pipe has room for goes whole: slicing every write cost a gigabyte piped to
#: `wc -c` ~8 % more time.
SLICE = 64 << 10
#: pwritev2's flag for a write that takes what fits now and never waits (Linux, Python 3.7+).
RWF_NOWAIT: int | None = getattr(os, "RWF_NOWAIT", None)


class BackgroundWriter:
    """Chunks for fds 1 and 2, written in the order given by one daemon thread (one thread,
    so `2>&1` keeps stdout and stderr interleaved as they came). A write that fails calls
    `on_error(fd, exc)` on the loop, and that fd's later chunks are skipped."""

    def __init__(self, on_error: Callable[[int, OSError], None]) -> None:
        self._loop = asyncio.get_running_loop()
        self._on_error = on_error
        self._queue: deque[tuple[int, bytes]] = deque()
        self._lock = threading.Condition()
        self._failed: set[int] = set()  # the thread's own record: it skips these fds
        self._waiters: list[tuple[int, asyncio.Future[None]]] = []  # (limit, its waiter)
        self._thread: threading.Thread | None = None
        #: Bytes given and not yet written (or skipped).
        self.pending = 0
        #: Bytes written so far: a reader that takes some is still reading.
        self.written = 0
        self._capacity: dict[int, int | None] = {}  # of the pipe behind each fd (None: no pipe)
        self._inline: dict[int, bool] = {}  # fds written by `put` when they have room

    def put(self, fd: int, data: bytes) -> None:
        """Queue `data` for `fd`; never waits. When nothing is queued and `fd` is a pipe, what
        it takes now is written here at once (a reader keeping up): handing each chunk to the
        thread cost a wake-up of each side per chunk. Only the rest is queued."""
        if not self._queue and fd not in self._failed and self._is_pipe(fd):
            try:  # RWF_NOWAIT: what the pipe has room for, else EAGAIN; never a wait
                done = os.pwritev(fd, [data], -1, RWF_NOWAIT or 0)
            except BlockingIOError:
                done = 0
            except OSError as exc:  # the reader left (EPIPE), …: as the thread would say it
                if exc.errno not in (errno.EOPNOTSUPP, errno.EINVAL):  # else: not here
                    self._failed.add(fd)
                    self._loop.call_soon(self._on_error, fd, exc)
                    return
                self._inline[fd], done = False, 0  # an old kernel: always the thread
            self.written += done
            if done == len(data):
                return
            data = data[done:]
        with self._lock:
            self._queue.append((fd, data))
            self.pending += len(data)
            self._lock.notify()
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="orch-output", daemon=True)
            self._thread.start()

    async def below(self, limit: int) -> None:
        """Return once at most `limit` bytes are pending."""
        with self._lock:
            if self.pending <= limit:
                return
            waiter = self._loop.create_future()
            self._waiters.append((limit, waiter))
        try:
            await waiter
        finally:
            with self._lock:
                with contextlib.suppress(ValueError):  # already taken by the thread
                    self._waiters.remove((limit, waiter))

    def _run(self) -> None:
        while True:
            with self._lock:
                while not self._queue:
                    self._lock.wait()
                fd, data = self._queue[0]  # left queued until written: counted as pending
                skip = fd in self._failed
            error = None if skip else self._write_all(fd, data)
            with self._lock:
                if error is not None:  # before the queue may look empty to `put`
                    self._failed.add(fd)
                self._queue.popleft()
                self.pending -= len(data)
                woken = [w for limit, w in self._waiters if self.pending <= limit]
                self._waiters = [(n, w) for n, w in self._waiters if w not in woken]
            self._tell(error, fd, woken)

    def _write_all(self, fd: int, data: bytes) -> OSError | None:
        """Write everything to `fd`, waiting while it is full (counted in `written` as it
        goes, a `SLICE` at a time when a pipe has no room for it all, so the count follows a
        slow reader); the error if it fails (BrokenPipeError: the reader has gone)."""
        view = memoryview(data)
        try:
            while view:
                try:
                    whole = len(view) <= self._room(fd)
                    n = os.write(fd, view if whole else view[:SLICE])
                except BlockingIOError:  # a non-blocking descriptor we were given: wait
                    select.select([], [fd], [])
                    continue
                view = view[n:]
                self.written += n
        except OSError as exc:
            return exc
        return None

    def _is_pipe(self, fd: int) -> bool:
        """Whether `fd` is a pipe written here when it has room (see `put`)."""
        if fd not in self._inline:
            self._inline[fd] = RWF_NOWAIT is not None and pipe_capacity(fd) is not None
        return self._inline[fd]

    def _room(self, fd: int) -> int:
        """Bytes the pipe behind `fd` takes now without waiting (any number: not a pipe)."""
        if fd not in self._capacity:
            self._capacity[fd] = pipe_capacity(fd)
        capacity = self._capacity[fd]
        if capacity is None:
            return sys.maxsize
        waiting = unread(fd)
        return 0 if waiting is None else capacity - waiting

    def _tell(self, error: OSError | None, fd: int, woken: list[asyncio.Future[None]]) -> None:
        """Pass a failure and the waiters' wake-up to the loop (closed: nobody listens)."""
        with contextlib.suppress(RuntimeError):  # the loop closed: orch is ending
            if error is not None:
                self._loop.call_soon_threadsafe(self._on_error, fd, error)
            for waiter in woken:
                self._loop.call_soon_threadsafe(_wake, waiter)


def _wake(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)
