"""Incremental text decoding that never splits a multibyte character across chunks."""

from __future__ import annotations

import codecs


class StreamDecoder:
    """bytes chunks in, str out; an incomplete UTF-8 sequence waits for the next chunk."""

    def __init__(self, encoding: str = "utf-8") -> None:
        self._decoder = codecs.getincrementaldecoder(encoding)(errors="replace")

    def feed(self, data: bytes) -> str:
        return self._decoder.decode(data)

    def flush(self) -> str:
        return self._decoder.decode(b"", final=True)


class LineSplitter:
    """str chunks in, complete lines out (without newline); `flush` returns the last partial."""

    def __init__(self) -> None:
        self._partial = ""

    def feed(self, text: str) -> list[str]:
        if not text:
            return []
        text = self._partial + text
        lines = text.split("\n")
        self._partial = lines.pop()
        return [line[:-1] if line.endswith("\r") else line for line in lines]

    def flush(self) -> list[str]:
        rest, self._partial = self._partial, ""
        return [rest] if rest else []
