"""The line model of bounded output: limits, what each stream counts, and the kept tail.

A headless cell writes a head and a tail of a run's output (headless.py); this module keeps
the tail: the lines that ended last, whole, within a limit of lines and bytes. Lines are
each stream's own (a stdout line may come in pieces around stderr output): dropping the
line that ended first takes its stream's bytes up to that end, not the other stream's.
"""

from __future__ import annotations

import collections
from collections.abc import Callable
from dataclasses import dataclass

from ..text import clean_cut

NL = 0x0A  # a line's end, as a byte
Chunk = tuple[str, bytes]  # (stream name, bytes)
Counted = tuple[str, bytes, int]  # (stream name, bytes, newlines in them): counted once


@dataclass(frozen=True)
class Limit:
    """How much of each end of the output is written: lines and bytes (None: no limit)."""

    lines: int | None
    size: int | None

    def split(self) -> tuple[Limit, Limit]:
        """The head's and the tail's shares: together exactly this limit, the head taking
        the odd one (a limit of 1 line writes that line; 3 write 2 + 1)."""
        return (Limit(_rest(self.lines), _rest(self.size)),
                Limit(_half(self.lines), _half(self.size)))

    def over(self, lines: int, size: int) -> bool:
        return (self.lines is not None and lines > self.lines) or (
            self.size is not None and size > self.size)


def _half(n: int | None) -> int | None:
    return None if n is None else n // 2


def _rest(n: int | None) -> int | None:
    return None if n is None else n - n // 2


@dataclass
class StreamCounts:
    """What one stream sent, wrote in the head, keeps in the tail and elided: bytes, line
    ends, and the byte at each edge (whether a cut there is inside a line)."""

    total: int = 0
    ends: int = 0  # newlines received
    head: int = 0
    head_ends: int = 0
    head_last: int = NL
    kept: int = 0
    kept_ends: int = 0
    kept_last: int = NL
    elided_last: int = NL

    def elided(self) -> tuple[int, int]:
        """(lines elided whole, lines shown in part) of this stream."""
        if self.total - self.head - self.kept <= 0:
            return 0, 0
        open_end = self.elided_last != NL  # its last elided line goes on (or never ended)
        lines = self.ends - self.head_ends - self.kept_ends + open_end
        head_part = self.head > 0 and self.head_last != NL
        tail_part = open_end and self.kept > 0
        if lines == 1 and head_part and tail_part:  # both halves are ends of one line
            return 0, 1
        return lines - head_part - tail_part, head_part + tail_part


def elided_lines(whole: int, parts: int) -> str:
    """`3 lines`, `part of one line`, `3 lines and part of another`, `parts of 2 lines`."""
    counted = f"{whole} line{'' if whole == 1 else 's'}"
    if parts == 0:
        return counted
    if whole == 0:
        return "part of one line" if parts == 1 else f"parts of {parts} lines"
    return f"{counted} and {'part of another' if parts == 1 else f'parts of {parts} others'}"


class BoundedTail:
    """The last lines of the output, whole (a line not ended yet is the newest), within
    `limit`; `dropped(stream, data)` hears of each piece let go, in order."""

    def __init__(self, limit: Limit, counts: dict[str, StreamCounts],
                 dropped: Callable[[str, bytes], None]) -> None:
        self.limit = limit
        self.counts = counts
        self.dropped = dropped
        self.chunks: collections.deque[Counted] = collections.deque()
        self.size = self.ends = 0  # bytes and line ends kept, every stream's

    def add(self, stream: str, data: bytes, ends: int | None = None) -> None:
        """Keep `data` of `stream` (`ends`: its newlines, when counted already)."""
        ends = data.count(b"\n") if ends is None else ends
        counts = self.counts[stream]
        self.chunks.append((stream, data, ends))
        counts.kept += len(data)
        counts.kept_ends += ends
        counts.kept_last = data[-1]
        self.size += len(data)
        self.ends += ends
        lines, size = self.kept()
        for name, c in self.counts.items():  # only the last line is ever shown in part: the
            if c.elided_last != NL and c.kept_ends and lines > 1:  # rest of a cut one goes
                self._drop_start(name)  # once another line follows
                lines, size = self.kept()
        if self.limit.over(lines, size):
            self._trim(lines, size)

    def kept(self) -> tuple[int, int]:
        """Lines (a line not ended counts) and bytes kept."""
        opened = 0
        for c in self.counts.values():
            opened += c.kept > 0 and c.kept_last != NL
        return self.ends + opened, self.size

    def _trim(self, lines: int, size: int) -> None:
        """Drop the lines that ended first until the tail fits; then, of lines not ended
        (long ones), those begun first; then the start of the one left."""
        limit = self.limit
        if limit.lines == 0 or limit.size == 0:  # nothing is kept
            for stream in list(self.counts):
                self._drop_stream(stream)
            return
        opened = any(c.kept and c.kept_last != NL for c in self.counts.values())
        self._drop_ended(0 if limit.lines is None else lines - limit.lines,
                         0 if limit.size is None else size - limit.size,
                         self.ends - (not opened))
        lines, size = self.kept()
        while limit.over(lines, size) and lines > 1:
            self._drop_stream(self.chunks[0][0])
            lines, size = self.kept()
        while limit.size is not None and size > limit.size:  # one line left: its end
            stream, data, _ = self.chunks[0]
            if size - len(data) >= limit.size:
                self._drop(stream, data, self.chunks.popleft()[2])
                size -= len(data)
                continue
            cut = clean_cut(data, size - limit.size, forward=True)
            if data[cut:] == b"\n":  # a last line's end with nothing of it: no empty line
                cut = len(data)
            left = data.count(b"\n", cut)
            self._drop(stream, data[:cut], self.chunks[0][2] - left)
            self.chunks[0] = (stream, data[cut:], left)
            size -= cut
        if self.chunks and not self.chunks[0][1]:
            self.chunks.popleft()

    def _drop_ended(self, lines: int, size: int, most: int) -> None:
        """Drop at least `lines` line ends and `size` bytes in whole lines, those that ended
        first (a stream's line may have begun before another stream's that ended sooner),
        and at most `most` line ends (the last line stays, however long)."""
        front: list[Counted | None] = []  # chunks walked over that stay (lines not ended)
        begun: dict[str, list[int]] = {}  # each stream's walked chunks: its line's start
        dropped = 0
        while (lines > 0 or dropped < size) and self.chunks and most > 0:
            stream, data, ends = self.chunks.popleft()
            if ends == 0:
                begun.setdefault(stream, []).append(len(front))
                front.append((stream, data, 0))
                continue
            starts = begun.pop(stream, [])
            before = 0
            for i in starts:  # the start of the line this chunk ends goes with it
                chunk = front[i]
                assert chunk is not None
                self._drop(stream, chunk[1], 0)
                before += len(chunk[1])
                front[i] = None
            cut, taken = _line_cut(data, ends, min(lines, most), size - dropped - before, most)
            self._drop(stream, data[:cut], taken)
            lines -= taken
            most -= taken
            dropped += before + cut
            if cut < len(data):
                begun[stream] = [len(front)]
                front.append((stream, data[cut:], ends - taken))
        self.chunks.extendleft(reversed([chunk for chunk in front if chunk is not None]))

    def _drop_start(self, stream: str) -> None:
        """Drop `stream`'s bytes up to its first line end (the rest of a line cut earlier)."""
        kept: list[Counted] = []
        while self.chunks:
            name, data, ends = self.chunks.popleft()
            if name != stream:
                kept.append((name, data, ends))
            elif ends == 0:
                self._drop(stream, data, 0)
            else:
                cut = data.find(b"\n") + 1
                self._drop(stream, data[:cut], 1)
                if cut < len(data):
                    kept.append((stream, data[cut:], ends - 1))
                break
        self.chunks.extendleft(reversed(kept))

    def _drop_stream(self, stream: str) -> None:
        """Drop every byte `stream` has in the tail."""
        for chunk in self.chunks:
            if chunk[0] == stream:
                self._drop(stream, chunk[1], chunk[2])
        self.chunks = collections.deque(c for c in self.chunks if c[0] != stream)

    def _drop(self, stream: str, data: bytes, ends: int) -> None:
        """Let `data` of `stream` go (`ends`: its newlines)."""
        if data:
            counts = self.counts[stream]
            counts.kept -= len(data)
            counts.kept_ends -= ends
            self.size -= len(data)
            self.ends -= ends
            counts.elided_last = data[-1]
            self.dropped(stream, data)


def _line_cut(data: bytes, ends: int, lines: int, size: int, most: int) -> tuple[int, int]:
    """Where to cut `data` (which ends `ends` lines) to drop at least one line, `lines` line
    ends and `size` bytes, but at most `most` line ends: just after a line's end; and the
    line ends before the cut."""
    taken = max(1, min(lines, ends, most))
    at = _after(data, taken, ends)
    if at < size:
        found = data.find(b"\n", size - 1)
        last = _after(data, min(ends, most), ends)
        if found < 0 or found + 1 >= last:
            return last, min(ends, most)
        return found + 1, taken + data.count(b"\n", at, found + 1)
    return at, taken


def _after(data: bytes, k: int, total: int) -> int:
    """The index just after the k-th of the `total` line ends of `data` (looked for from
    whichever side is nearer: a chunk may hold thousands)."""
    if k <= total - k:
        at = 0
        for _ in range(k):
            at = data.find(b"\n", at) + 1
        return at
    at = len(data)
    for _ in range(total - k + 1):
        at = data.rfind(b"\n", 0, at)
    return at + 1
