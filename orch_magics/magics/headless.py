"""Bounded output for cells without a live front end (nbclient, papermill, terminal IPython).

A saved notebook is not a log store: `HeadlessOutput` writes the first lines of a run as they
come (so a terminal still sees progress), keeps only the last lines after that, and at the end
writes "… N lines / SIZE elided …" and that tail. Memory and notebook size stay bounded however
much the run prints; the RunResult keeps every byte.
"""

from __future__ import annotations

import codecs
import collections
import re
import sys
import threading
from dataclasses import dataclass
from typing import Any

from ..process.events import Event, Stderr, Stdout
from ..sinks.ansi import sgr_codes
from ..sinks.base import StepKind
from ..sinks.units import human_size

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


def _half(n: int | None) -> int | None:
    return None if n is None else n // 2


def _rest(n: int | None) -> int | None:
    return None if n is None else n - n // 2


class HeadlessOutput:
    """A sink that writes a head and a tail of the output to this cell's stdout/stderr."""

    def __init__(self, limit: Limit, *, show_stdout: bool = True) -> None:
        self.head, self.tail = limit.split()
        self.show_stdout = show_stdout
        self._lock = threading.Lock()
        self._pending: list[Chunk] = []  # head text not written yet
        self._tail: collections.deque[Counted] = collections.deque()
        self._in_tail = False
        self.total = [0, 0]  # bytes, lines received (shown streams)
        self.written = [0, 0]  # bytes, lines of the head
        self.kept = [0, 0]  # bytes, lines of the tail
        self._decoders: dict[str, Any] = {}
        self._last = "\n"  # last character written
        self._stream = "stdout"  # the stream it went to
        self._seen_steps: set[int] = set()
        #: The colours (SGR codes) each stream's head left set, and those its elided part set.
        self._head_sgr: dict[str, list[str]] = {"stdout": [], "stderr": []}
        self._elided_sgr: dict[str, list[str]] = {"stdout": [], "stderr": []}
        self._step_output = False  # a pre/post command printed something (shown here)

    # ---- the Sink protocol (background loop thread) ----------------------------------------
    def feed(self, event: Event) -> None:
        if isinstance(event, Stderr) or (isinstance(event, Stdout) and self.show_stdout):
            self._add("stderr" if isinstance(event, Stderr) else "stdout", event.data)

    def close(self) -> None:
        pass

    def step_started(self, kind: StepKind, label: str) -> None:
        """Nothing to show before a step has output (it comes with its result)."""

    def step_finished(self, kind: StepKind, label: str, result: Any) -> None:
        """Pre/post command output is part of the cell's output, in the order it ran."""
        self.note_steps([result])

    def note_steps(self, steps: Any) -> None:
        """Add the output of these pre/post step results unless already added."""
        for step in steps:
            if step.step in ("pre", "post") and id(step) not in self._seen_steps:
                self._seen_steps.add(id(step))
                out, err = step.stdout_bytes, step.stderr_bytes
                self._step_output = self._step_output or bool(out or err)
                self._add("stdout", out)
                self._add("stderr", err)

    # ---- from the magic's main thread -------------------------------------------------------
    def write_pending(self) -> None:
        """Write the head received so far."""
        with self._lock:
            pending, self._pending = self._pending, []
        self._write(pending)

    def finish(self, where: str) -> None:
        """Write what is left: the rest of the head, the elision note, the tail."""
        self.write_pending()
        with self._lock:
            tail, kept = [(s, d) for s, d, _ in self._tail], list(self.kept)
        elided = self.total[0] - self.written[0] - kept[0]
        if elided > 0:
            lines = self.total[1] - self.written[1] - kept[1]
            self._end_line()  # the note goes on a line of its own
            what = ("part of one line" if lines == 0  # one long line, cut in its middle
                    else f"{lines} line{'' if lines == 1 else 's'}")
            if self._step_output:  # their output is in their own results
                where += ", the pre/post commands' in `.steps`"
            reset = "\x1b[0m" if _sets_colour(self._head_sgr["stdout"]) else ""  # note: none
            self._text("stdout", f"{reset}… {what} / {human_size(elided)} elided; full output in "
                                 f"{where} (limit: %config Orch.headless_lines / headless_bytes)\n")
        self._decoders.clear()  # the tail starts mid-stream: decode it afresh, from a whole
        if tail:  # character (a chunk dropped before it may have ended inside one)
            tail[0] = (tail[0][0], tail[0][1][_whole(tail[0][1], 0, forward=True):])
        self._write(self._coloured(tail) if elided > 0 else tail)
        self._end_line()
        sys.stdout.flush()
        sys.stderr.flush()

    # ---- internals ----------------------------------------------------------------------------
    def _add(self, stream: str, data: bytes) -> None:
        if not data:
            return
        lines = data.count(b"\n")  # once per chunk: a scan of every byte is the main cost here
        with self._lock:
            self.total[0] += len(data)
            self.total[1] += lines
            if not self._in_tail:
                take = _cut_head(data, self.head, self.written)
                if take:
                    head_lines = lines if take == len(data) else data.count(b"\n", 0, take)
                    self._pending.append((stream, data[:take]))
                    _take_sgr(self._head_sgr, stream, data[:take])
                    self.written[0] += take
                    self.written[1] += head_lines
                    lines -= head_lines
                data = data[take:]
                self._in_tail = bool(data)
            if data:
                self._tail.append((stream, data, lines))
                self.kept[0] += len(data)
                self.kept[1] += lines
                self._trim()

    def _trim(self) -> None:
        """Drop the oldest tail bytes past the limit: whole chunks, then part of one.

        A last line with no newline (yet) counts as a line: a tail of N lines shows N."""
        while self._tail:
            stream, first, lines = self._tail[0]
            last = self._tail[-1][1]
            open_line = int(bool(last) and not last.endswith(b"\n"))
            if not _over(self.tail, self.kept[1] + open_line, self.kept[0]):
                return
            after = open_line if len(self._tail) > 1 else 0  # the open line, if not in `first`
            rest = self.kept[0] - len(first), self.kept[1] - lines
            if _over(self.tail, rest[1] + after, rest[0]):
                self._tail.popleft()
                _take_sgr(self._elided_sgr, stream, first)
                self.kept = list(rest)
                continue
            cut = _cut_tail(first, self.tail, rest[1] + open_line, rest[0])
            _take_sgr(self._elided_sgr, stream, first[:cut])
            kept = first[cut:]
            kept_lines = kept.count(b"\n")  # at most the tail's limit
            self._tail[0] = (stream, kept, kept_lines)
            self.kept = [rest[0] + len(kept), rest[1] + kept_lines]

    def _write(self, chunks: list[Chunk]) -> None:
        for stream, data in chunks:
            decoder = self._decoders.setdefault(
                stream, codecs.getincrementaldecoder("utf-8")("replace"))
            self._text(stream, decoder.decode(data))

    def _coloured(self, tail: list[Chunk]) -> list[Chunk]:
        """`tail` with each stream's first chunk starting from the colours in force there, as
        the elided part left them (not as the head did)."""
        for stream in ("stdout", "stderr"):
            first = next((i for i, (s, _) in enumerate(tail) if s == stream), None)
            head = self._head_sgr[stream]
            codes = [code for code in sgr_codes(_replayed(head + self._elided_sgr[stream]))
                     if _sets_colour([code])]  # after a reset of its own, a bare one is void
            if first is not None and (codes or _sets_colour(head)):
                tail[first] = (stream, ("\x1b[0m" + _replayed(codes)).encode() + tail[first][1])
        return tail

    def _end_line(self) -> None:
        """End the last line written, on the stream it went to (stderr's on stderr)."""
        if self._last != "\n":
            self._text(self._stream, "\n")

    def _text(self, stream: str, text: str) -> None:
        if text:
            if stream != self._stream:  # a kernel sends each stream's buffer on its own:
                (sys.stdout if self._stream == "stdout" else sys.stderr).flush()  # in order
                self._stream = stream
            (sys.stdout if stream == "stdout" else sys.stderr).write(text)
            self._last = text[-1]


def _take_sgr(codes: dict[str, list[str]], stream: str, data: bytes) -> None:
    """Add the colours `data` sets to those of `stream` (only escapes count, so any 8-bit text
    reads the same as latin-1)."""
    if b"\x1b" in data:
        codes[stream] = sgr_codes(_replayed(codes[stream]) + data.decode("latin-1"))


def _replayed(codes: list[str]) -> str:
    """The escapes that set `codes` again, in order (a reset among them too)."""
    return "".join(f"\x1b[{code}m" for code in codes)


def _sets_colour(codes: list[str]) -> bool:
    """Whether `codes` leave a colour or style set (not only a bare reset)."""
    return any(code not in ("", "0") for code in codes)


def _over(limit: Limit, lines: int, size: int) -> bool:
    return (limit.lines is not None and lines > limit.lines) or (
        limit.size is not None and size > limit.size)


def _cut_head(data: bytes, head: Limit, written: list[int]) -> int:
    """How many bytes of `data` still fit in the head (ending at a line end where lines run out)."""
    room = len(data) if head.size is None else max(0, head.size - written[0])
    end = _whole(data, min(len(data), room), forward=False)
    if head.lines is None:
        return end
    lines_left = head.lines - written[1]
    pos = 0
    for _ in range(max(0, lines_left)):
        found = data.find(b"\n", pos, end)
        if found < 0:
            return end
        pos = found + 1
    return pos


def _cut_tail(data: bytes, tail: Limit, lines: int, size: int) -> int:
    """Where the kept part of `data` starts, given `lines`/`size` already kept after it."""
    start = 0 if tail.size is None else max(0, len(data) - (tail.size - size))
    if tail.lines is not None:
        pos = len(data)
        for _ in range(tail.lines - lines + 1):
            pos = data.rfind(b"\n", 0, pos)
            if pos < 0:
                break
        start = max(start, pos + 1)
    return _whole(data, start, forward=True)


#: A CSI escape sequence (colours, cursor moves), which a cut must not split.
_CSI = re.compile(rb"\x1b\[[0-?]*[ -/]*[@-~]")


def _whole(data: bytes, cut: int, *, forward: bool) -> int:
    """`cut` moved off the middle of a UTF-8 character or an escape sequence: back to its
    start (the end of a head), or on to its end (the start of a tail)."""
    for _ in range(3):  # continuation bytes: at most 3 after a character's first byte
        if not (forward or cut > 0) or cut >= len(data) or not 0x80 <= data[cut] < 0xC0:
            break
        cut += 1 if forward else -1
    if not 0 < cut < len(data):
        return cut
    esc = data.rfind(b"\x1b", max(0, cut - 64), cut)
    found = _CSI.match(data, esc) if esc >= 0 else None
    if found is not None and found.end() > cut:
        cut = found.end() if forward else esc
    return cut
