"""Whether a file a put has read was written to meanwhile: what is sent must be a version of
the file (files9: a file rewritten in place arrived as its old start and its new end).

Checked on the file that was read (its open descriptor), not on its name: a file replaced by
rename, or rotated away, was read whole, a consistent version (review19). Its start is read
again only when its mtime moved, and only compared: a log only appended to, or touched, is
sent as it was when its read began.
"""

from __future__ import annotations

import os
import zlib
from collections.abc import Callable
from typing import BinaryIO, Protocol

#: Bytes read again at a time.
CHUNK = 1 << 20


class Digest(Protocol):
    """What `start_is` needs of a hash (hashlib's objects, `Crc`)."""

    def update(self, data: bytes, /) -> None: ...

    def digest(self) -> bytes: ...


def changed(fd: int, mtime_ns: int, size: int, digest: bytes, new: Callable[[], Digest]) -> bool:
    """Whether the first `size` bytes read from open file `fd` (hashing to `digest` with
    `new`), whose mtime was `mtime_ns` when its read began, are no longer its start."""
    try:
        if os.fstat(fd).st_mtime_ns == mtime_ns:
            return False
        again, at = new(), 0
        while at < size and (data := os.pread(fd, min(CHUNK, size - at), at)):
            again.update(data)
            at += len(data)
    except OSError:  # an open file that cannot be read again: not known to be the same
        return True
    return at < size or again.digest() != digest


class Crc:
    """zlib's CRC-32 as a Digest: a tar member is checked with it (a put's stream is already
    hashed whole with sha256; a second sha256 of every member would double that cost)."""

    def __init__(self) -> None:
        self.value = 0

    def update(self, data: bytes, /) -> None:
        self.value = zlib.crc32(data, self.value)

    def digest(self) -> bytes:
        return self.value.to_bytes(4, "big")


class Checked:
    """A file as tarfile reads it for one member, its bytes' CRC kept for `changed` after."""

    def __init__(self, stream: BinaryIO) -> None:
        self.stream = stream
        self.fd = stream.fileno()
        self.mtime_ns = os.fstat(self.fd).st_mtime_ns
        self.crc = Crc()
        self.size = 0

    def read(self, size: int = -1, /) -> bytes:
        data = self.stream.read(size)
        self.crc.update(data)
        self.size += len(data)
        return data

    def changed(self) -> bool:
        return changed(self.fd, self.mtime_ns, self.size, self.crc.digest(), Crc)
