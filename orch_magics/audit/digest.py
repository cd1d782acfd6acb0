"""The audit's output digest: bytes and sha256 of the stdout and stderr a run shows.

Each stream is hashed in a worker thread fed in batches of a few MiB (`sinks.batches`):
hashlib drops the GIL while it hashes, so the hashing runs on the other core. Where more runs
go at once than SHARED holds in batches (`process.sharing`: a fleet's --parallel), each chunk
is hashed as it comes instead: 120 targets held their 4 MB each for the hasher, 480 MB
(fleets9); hashing costs ~0.6 ms a MB on the loop's thread.
"""

from __future__ import annotations

import hashlib

from ..process.events import Event, Stderr, Stdout
from ..process.sharing import share
from ..sinks.batches import BATCH, Batches

#: The bytes that the digests' batches of the runs going at once may gather in all.
SHARED = 64 << 20


class _Stream:
    """One stream's hasher, byte count and batches."""

    def __init__(self, name: str, hashing: bool) -> None:
        self.hasher = hashlib.sha256()
        self.size = 0
        size = BATCH if share(SHARED, 0) >= BATCH else 0  # 0: each chunk as it comes
        self.batches = Batches(self.hasher.update, name=name, size=size) if hashing else None


class OutputDigest:
    """A sink counting and hashing the (masked, filtered) stdout and stderr a run shows, or
    writes to its output file (stdout_mode: file: `file_output`, sinks.base.FileTap)."""

    def __init__(self, *, hashing: bool = True) -> None:
        # hashing=False: count bytes only (`audit: {digests: false}`)
        self._streams = {Stdout: _Stream("orch-audit-out", hashing),
                         Stderr: _Stream("orch-audit-err", hashing)}

    def feed(self, event: Event) -> None:
        kind = type(event)
        if kind is Stdout or kind is Stderr:
            data: bytes = event.data  # type: ignore[union-attr]
            stream = self._streams[kind]
            stream.size += len(data)
            if stream.batches is not None:
                stream.batches.add(data)

    def file_output(self, event: Stdout) -> None:
        self.feed(event)

    def close(self) -> None:
        pass

    def finish(self) -> tuple[tuple[int, str | None], tuple[int, str | None]]:
        """(bytes, sha256 or None when not hashing) of stdout and of stderr, once every chunk
        is hashed."""
        for stream in self._streams.values():
            if stream.batches is not None:
                stream.batches.finish()
        out, err = ((s.size, s.hasher.hexdigest() if s.batches is not None else None)
                    for s in self._streams.values())
        return out, err
