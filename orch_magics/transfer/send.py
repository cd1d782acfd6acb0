"""The local half of a put: the bytes to send (a file, or a directory as a tar stream).

The sha256 and size are computed in a first pass, so the remote side can check what it
received before it renames anything; the second pass is what goes on the process's stdin.
Both passes read in a worker thread (the event loop never waits for the disk).
"""

from __future__ import annotations

import hashlib
import os
import stat
import tarfile
import threading
from collections.abc import Callable, Iterator
from typing import IO, BinaryIO, Literal

from .model import Progress, TransferError

CHUNK = 1 << 20


class _Pipe:
    """The write end of an os.pipe as the file object tarfile writes into."""

    def __init__(self, fd: int) -> None:
        self.fd = fd

    def write(self, data: bytes) -> int:
        view = memoryview(data)
        while view:
            view = view[os.write(self.fd, view):]
        return len(data)


def _tar_into(root: str, fd: int) -> None:
    """Write `root` as a tar stream (members `.`, `./a`, …) into fd, then close it."""
    try:
        with tarfile.open(fileobj=_Pipe(fd), mode="w|",  # type: ignore[call-overload]
                          format=tarfile.GNU_FORMAT) as tar:
            tar.add(root, arcname=".", recursive=True)
    except BrokenPipeError:  # the reader stopped (interrupt, failure): nothing more to do
        pass
    finally:
        os.close(fd)


def _tar_stream(root: str) -> BinaryIO:
    """A readable stream of `root` as tar, produced by a thread."""
    read, write = os.pipe()
    threading.Thread(target=_tar_into, args=(root, write), daemon=True, name="orch-tar").start()
    return os.fdopen(read, "rb")


class Source:
    """What a put sends: kind, mode, size, sha256, and a fresh stream of the bytes."""

    def __init__(self, path: str) -> None:
        try:
            info = os.stat(path)
        except OSError as exc:
            raise TransferError(f"cannot read {path}: {exc.strerror}") from None
        if not (stat.S_ISREG(info.st_mode) or stat.S_ISDIR(info.st_mode)):
            raise TransferError(f"{path} is not a regular file or directory")
        if not os.access(path, os.R_OK):
            raise TransferError(f"cannot read {path}: permission denied")
        self.path = path
        self.kind: Literal["file", "directory"] = \
            "directory" if stat.S_ISDIR(info.st_mode) else "file"
        self.mode = stat.S_IMODE(info.st_mode)
        self.size = 0
        self.sha256 = ""

    def open(self) -> BinaryIO:
        """A new stream of the bytes to send (the file, or the tar stream of the directory)."""
        return _tar_stream(self.path) if self.kind == "directory" else open(self.path, "rb")

    def measure(self) -> None:
        """First pass: size and sha256 of exactly what `open()` produces (blocking)."""
        sha, size = hashlib.sha256(), 0
        try:
            with self.open() as stream:
                while chunk := stream.read(CHUNK):
                    sha.update(chunk)
                    size += len(chunk)
        except OSError as exc:
            raise TransferError(f"cannot read {self.path}: {exc}") from None
        self.size, self.sha256 = size, sha.hexdigest()


class Counting:
    """The chunks of a stream, telling `progress` how much was read (feed_stdin steps it in
    a worker thread); it ends early once `stopped()` says so."""

    def __init__(self, stream: IO[bytes], progress: Progress,
                 stopped: Callable[[], bool]) -> None:
        self.stream = stream
        self.progress = progress
        self.stopped = stopped
        self.done = 0

    def __iter__(self) -> Iterator[bytes]:
        while not self.stopped() and (data := self.stream.read(CHUNK)):
            self.done += len(data)
            self.progress.update(self.done)
            yield data

    def close(self) -> None:
        self.stream.close()
