"""Feeding a process's stdin from what the caller has: bytes, text, files, (async) iterables."""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
import stat
import threading
from collections.abc import AsyncGenerator, AsyncIterable, Iterable
from typing import IO, Any, Union

from .errors import ConfigError
from .process.stdin_writer import StdinWriter, as_bytes

StdinSource = Union[bytes, str, IO[Any], Iterable[Any], AsyncIterable[Any], None]
CHUNK = 1 << 20
_END = object()  # the end of a source (None is an item, which fails the run)


def check_stdin(source: object) -> None:
    """Refuse what cannot be stdin at all (an int, a float) before anything starts; a bad item
    inside an iterable is found only when it comes, and fails the run."""
    if isinstance(source, str) and not source.isascii():
        try:
            as_bytes(source)
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
    if hasattr(source, "read") and (getattr(source, "closed", False) is True or getattr(
            source, "readable", lambda: True)() is False):
        raise ConfigError(f"stdin: the file {getattr(source, 'name', '')!r} is closed or not "
                          f"open for reading")
    if source is None or isinstance(source, (bytes, bytearray, memoryview, str)) or any(
            hasattr(source, name) for name in ("read", "__aiter__", "__iter__")):
        return
    raise ConfigError(f"stdin takes str, bytes, a binary file, or an iterable or async "
                      f"iterable of bytes/str, not {type(source).__name__}")


async def feed_stdin(writer: StdinWriter, source: StdinSource, *, close: bool = True) -> None:
    """Write everything from `source` with back-pressure, then send EOF when `close`.

    A source that fails part-way raises and sends no EOF: the command must not take what it
    got for the whole input (an importer would commit half a file); the run stops it instead.
    """
    try:
        await _write_all(writer, source)
    except asyncio.CancelledError:  # the run is over or stopped
        if close:
            writer.close()
        raise
    if close:
        writer.close()


async def _write_all(writer: StdinWriter, source: StdinSource) -> None:
    if source is None:
        pass
    elif isinstance(source, (bytes, bytearray, memoryview, str)):
        data = as_bytes(source)
        for i in range(0, len(data), CHUNK):
            await writer.awrite(data[i:i + CHUNK])
            if writer.broken:
                break
    elif isinstance(source, (list, tuple)):
        for item in source:
            await _queued(writer, item)
            if writer.broken:
                break
    elif any(hasattr(source, name) for name in ("read", "__aiter__", "__iter__")):
        async with contextlib.aclosing(batches_of(source, threading.Event())) as batches:
            async for batch in batches:
                for item in batch:
                    writer.write(item)  # type: ignore[arg-type]  # a bad item fails the run
                if writer.broken:
                    break
                if writer.pending > AHEAD:
                    await writer.drain()
    else:
        raise TypeError(f"cannot use {type(source).__name__} as stdin")


async def _queued(writer: StdinWriter, item: bytes | str) -> None:
    """Queue `item`, waiting for delivery only past AHEAD bytes queued: a source of many small
    items is not sent one round trip an item (9,000 a second from a generator, api2 tester),
    and a large one is still paced by its reader."""
    writer.write(item)
    if writer.pending > AHEAD:
        await writer.drain()


#: Bytes of input queued for a process before its feeding waits for them to be delivered.
AHEAD = 1 << 20


async def chunks_of(source: StdinSource, stop: threading.Event) -> AsyncGenerator[object, None]:
    """The chunks of a file or (async) iterable as they come (see batches_of)."""
    async with contextlib.aclosing(batches_of(source, stop)) as batches:
        async for batch in batches:
            for item in batch:
                yield item


async def batches_of(source: StdinSource, stop: threading.Event
                     ) -> AsyncGenerator[list[object], None]:
    """The chunks of a file or (async) iterable as they come, in lists of what came meanwhile.
    Blocking reads run in a daemon thread that nobody waits for: a pipe whose writer never
    closes it neither stalls the loop nor keeps the interpreter from exiting once the run is
    over. Setting `stop` (done when the generator closes) ends the thread after its current
    read."""
    if isinstance(source, AsyncIterable):
        async for item in source:
            yield [item]
        return
    handoff = _Handoff(asyncio.get_running_loop(), stop)
    room = _Room()
    failed: list[BaseException] = []  # why the source ended early, before its _END

    def reader() -> None:
        try:
            for item in _blocking_chunks(source):
                size = _size(item)
                if not room.take(size, stop):
                    return
                handoff.put(item, size)
        except Exception as exc:
            failed.append(exc)
        handoff.put(_END, 0)

    threading.Thread(target=reader, name="orch-stdin", daemon=True).start()
    try:
        while True:
            items, size = await handoff.batches.get()
            room.give(size)
            if items[-1] is _END:
                if items[:-1]:
                    yield items[:-1]
                if failed:
                    raise failed[0]
                return
            yield items
    finally:  # nobody takes more: a reader waiting for room ends (one in a read, after it)
        stop.set()
        room.give(0)


class _Handoff:
    """Items from the reader thread to the loop: one wake-up and one batch for what came
    meanwhile, not one an item (a generator of small items was 3-4 times slower than a list)."""

    def __init__(self, loop: asyncio.AbstractEventLoop, stop: threading.Event) -> None:
        self.batches: asyncio.Queue[tuple[list[object], int]] = asyncio.Queue()
        self._loop, self._stop = loop, stop
        self._handed: list[object] = []  # read since the loop last took a batch
        self._size = 0
        self._lock = threading.Lock()

    def put(self, item: object, size: int) -> None:
        """From the reader thread."""
        with self._lock:
            self._handed.append(item)
            self._size += size
            if len(self._handed) > 1:  # a wake-up is on its way and takes this one too
                return
        try:
            self._loop.call_soon_threadsafe(self._move)
        except RuntimeError:  # the loop is closed: nobody reads any more
            self._stop.set()

    def _move(self) -> None:
        with self._lock:
            batch = (self._handed, self._size)
            self._handed, self._size = [], 0
        self.batches.put_nowait(batch)


def _size(item: object) -> int:
    return len(item) if isinstance(item, (bytes, str)) else 1


class _Room:
    """What the reader thread may read ahead of what was taken: AHEAD bytes (one chunk more,
    whatever its size), so a source of many small items is not handed over one at a time."""

    def __init__(self) -> None:
        self._ahead = 0
        self._changed = threading.Condition(threading.Lock())

    def take(self, size: int, stop: threading.Event) -> bool:
        """Wait for room for `size` bytes; False once `stop` is set (nobody reads any more)."""
        with self._changed:
            while self._ahead > AHEAD and not stop.is_set():
                self._changed.wait()
            self._ahead += size
        return not stop.is_set()

    def give(self, size: int) -> None:
        with self._changed:
            self._ahead -= size
            self._changed.notify()


def _blocking_chunks(source: object) -> Iterable[object]:
    """A file's chunks as they arrive (`read1` when it has one; a text pipe's or terminal's
    lines, as its `read(n)` waits for n characters), or an iterable's items."""
    read = getattr(source, "read1", None) or getattr(source, "read", None)
    if isinstance(source, io.TextIOBase) and _arrives(source):
        read = source.readline
    if read is None:
        yield from source  # type: ignore[misc]
        return
    while chunk := read(CHUNK):
        yield chunk


def _arrives(source: io.TextIOBase) -> bool:
    """Whether a file's data comes over time (a pipe, a socket, a terminal), not all there."""
    try:
        return not stat.S_ISREG(os.fstat(source.fileno()).st_mode)
    except (OSError, ValueError):  # no descriptor (StringIO: io.UnsupportedOperation), closed
        return False
