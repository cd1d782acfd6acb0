"""An append-only byte buffer that spills to a temporary file past a memory threshold."""

from __future__ import annotations

import io
import os
import tempfile
from collections.abc import Iterator
from typing import IO

#: Bytes kept in memory before the buffer moves to a temporary file.
SPILL_THRESHOLD = 16 << 20


class OutputBuffer:
    """Keeps every byte of one stream; large outputs live on disk, not in RAM."""

    def __init__(self, threshold: int = SPILL_THRESHOLD) -> None:
        self._threshold = threshold
        self._mem: io.BytesIO | None = io.BytesIO()
        self._file: IO[bytes] | None = None
        self.size = 0
        self.newlines = 0
        self._last = b""

    @property
    def spilled(self) -> bool:
        """True once the data lives in a temporary file."""
        return self._file is not None

    @property
    def path(self) -> str | None:
        return self._file.name if self._file is not None else None

    def write(self, data: bytes) -> None:
        if not data:
            return
        if self._file is None and self.size + len(data) > self._threshold:
            assert self._mem is not None
            self._file = tempfile.NamedTemporaryFile(prefix="orch-output-", delete=True)
            self._file.write(self._mem.getbuffer())
            self._mem = None
        if self._file is not None:
            self._file.seek(0, os.SEEK_END)
            self._file.write(data)
        else:
            assert self._mem is not None
            self._mem.write(data)
        self.size += len(data)
        self.newlines += data.count(b"\n")
        self._last = data[-1:]

    @property
    def line_count(self) -> int:
        """Lines as `splitlines` would count them (a last line without newline counts)."""
        return self.newlines + (1 if self.size and self._last != b"\n" else 0)

    def getvalue(self) -> bytes:
        """All bytes (reads the file back when spilled: mind the size)."""
        if self._file is None:
            assert self._mem is not None
            return self._mem.getvalue()
        self._file.flush()
        with open(self._file.name, "rb") as f:
            return f.read()

    def iter_chunks(self, size: int = 1 << 20) -> Iterator[bytes]:
        """The bytes in chunks, without loading them all."""
        if self._file is None:
            assert self._mem is not None
            view = self._mem.getbuffer()
            for i in range(0, len(view), size):
                yield bytes(view[i:i + size])
            return
        self._file.flush()
        with open(self._file.name, "rb") as f:
            while chunk := f.read(size):
                yield chunk

    def iter_lines(self, encoding: str = "utf-8") -> Iterator[str]:
        """Decoded lines, split on \\n only (a \\r before it is dropped), read incrementally.

        The same rule in memory and on disk, and the same count as `line_count`: a progress
        bar's bare \\r or a form feed stays inside its line.
        """
        if self._file is None:
            assert self._mem is not None
            source: Iterator[bytes] = iter(io.BytesIO(self._mem.getvalue()))
        else:
            self._file.flush()
            source = open(self._file.name, "rb")  # noqa: SIM115 - closed below
        try:
            for raw in source:  # binary files iterate on b"\\n": never inside a UTF-8 sequence
                if raw.endswith(b"\n"):
                    raw = raw[:-2] if raw.endswith(b"\r\n") else raw[:-1]
                yield raw.decode(encoding, "replace")
        finally:
            close = getattr(source, "close", None)
            if close is not None:
                close()

    def tail(self, max_bytes: int) -> bytes:
        """The last `max_bytes` bytes."""
        if self._file is None:
            assert self._mem is not None
            return self._mem.getvalue()[-max_bytes:]
        self._file.flush()
        with open(self._file.name, "rb") as f:
            f.seek(max(0, self.size - max_bytes))
            return f.read()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
