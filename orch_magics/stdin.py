"""Feeding a process's stdin from what the caller has: bytes, text, files, (async) iterables."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterable, Iterable
from typing import IO, Any, Union

from .errors import ConfigError
from .process.stdin_writer import StdinWriter, as_bytes

StdinSource = Union[bytes, str, IO[Any], Iterable[Any], AsyncIterable[Any], None]
CHUNK = 1 << 20
_END = object()


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
    elif hasattr(source, "read"):
        loop = asyncio.get_running_loop()
        while True:
            chunk = await loop.run_in_executor(None, source.read, CHUNK)
            if not chunk:
                break
            await writer.awrite(chunk)
            if writer.broken:
                break
    elif hasattr(source, "__aiter__"):
        async for item in source:  # type: ignore[union-attr]
            await writer.awrite(item)
            if writer.broken:
                break
    elif isinstance(source, (list, tuple)):
        for item in source:
            await writer.awrite(item)
            if writer.broken:
                break
    elif hasattr(source, "__iter__"):
        # A generator may block (reading a slow source): step it in a worker thread so
        # the event loop (and every other run on it) keeps going.
        loop = asyncio.get_running_loop()
        iterator = iter(source)  # type: ignore[call-overload]
        while True:
            item = await loop.run_in_executor(None, next, iterator, _END)
            if item is _END:
                break
            await writer.awrite(item)
            if writer.broken:
                break
    else:
        raise TypeError(f"cannot use {type(source).__name__} as stdin")
