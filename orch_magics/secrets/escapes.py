"""Forms found through a terminal's escape sequences: `grep --color` (or any program that
colours part of a line) puts SGR and erase-line codes inside a secret it matched, which a
terminal or notebook renders away, showing the secret whole (safety15). Where a chunk holds an
escape, the forms are also looked for in its text with the sequences left out, and each
match is mapped back onto the chunk; a stream holds back an end that may begin a form with
sequences in it, or an unfinished sequence, as it holds a plain one (review28)."""

from __future__ import annotations

import bisect
import re
from typing import TypeVar

AnyStr = TypeVar("AnyStr", str, bytes)

#: A terminal's escape sequences (ECMA-48): CSI (`ESC [` … final byte: colours, erase), OSC
#: (`ESC ]` … BEL or ST: a hyperlink, a title), and the short ones (`ESC ( B` of `tput sgr0`,
#: `ESC 7`); in text, C1's one-character CSI too (as bytes 0x9b is part of UTF-8 letters).
ESCAPE_TEXT = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x9b[0-?]*[ -/]*[@-~]"
                      r"|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[ -/]*[0-~]")
ESCAPE_BYTES = re.compile(rb"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)"
                       rb"|\x1b[ -/]*[0-~]")
#: An escape sequence begun at the end of a chunk and not finished there (its rest is next).
UNFINISHED = re.compile(rb"\x1b(?:\[[0-?]*[ -/]*|\][^\x07\x1b]*\x1b?|[ -/]*)$")


def escape_pattern(data: AnyStr) -> re.Pattern[AnyStr]:
    return ESCAPE_BYTES if isinstance(data, bytes) else ESCAPE_TEXT  # type: ignore[return-value]


def has_escape(data: AnyStr) -> bool:
    if isinstance(data, bytes):
        return b"\x1b" in data
    return "\x1b" in data or "\x9b" in data


def without_escapes(data: AnyStr) -> tuple[AnyStr, list[int], list[int]]:
    """`data` with its escape sequences left out, and where each kept piece starts in the
    result and in `data` (for `original`)."""
    pieces: list[AnyStr] = []
    kept_at: list[int] = []
    from_at: list[int] = []
    pos = size = 0
    for m in escape_pattern(data).finditer(data):
        if m.start() > pos:
            kept_at.append(size)
            from_at.append(pos)
            pieces.append(data[pos:m.start()])
            size += m.start() - pos
        pos = m.end()
    if pos < len(data):
        kept_at.append(size)
        from_at.append(pos)
        pieces.append(data[pos:])
    return data[:0].join(pieces), kept_at, from_at


def original(span: tuple[int, int], kept_at: list[int], from_at: list[int]) -> tuple[int, int]:
    """A (start, end) of the text without sequences, as a span of the text with them: from
    its first character to just after its last (the sequences between them inside)."""
    def at(i: int) -> int:
        k = bisect.bisect_right(kept_at, i) - 1
        return from_at[k] + i - kept_at[k]
    return at(span[0]), at(span[1] - 1) + 1


def merged(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Spans in order, overlapping ones joined."""
    out: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if out and start <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], end))
        else:
            out.append((start, end))
    return out
