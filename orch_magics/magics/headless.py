"""Bounded output for cells without a live front end (nbclient, papermill, terminal IPython).

A saved notebook is not a log store: `HeadlessOutput` writes the first lines of a run as they
end (so a terminal still sees progress), keeps only the last lines after that (bounded.py),
and at the end writes "… N lines / SIZE elided …" and that tail. Each pre/post command's
output is bounded the same way, on its own: a noisy step never elides the command's output
(basics8). Memory and notebook size stay bounded however much the run prints; the RunResult
keeps every byte.
"""

from __future__ import annotations

import codecs
import sys
import threading
from collections.abc import Callable
from typing import Any

from ..process.events import Event, Stderr, Stdout
from ..sinks.ansi import sgr_codes
from ..sinks.base import StepKind
from ..text import clean_cut, human_size
from .bounded import NL, BoundedTail, Chunk, Limit, StreamCounts, elided_lines

#: Bytes of a stream's first line that may be written in the head though it was full.
FIRST_LINE = 4096


class HeadlessOutput:
    """A sink that writes a head and a tail of the output to this cell's stdout/stderr.

    Both are whole lines: the head writes a stream's line once it has ended (or the run has),
    the tail keeps the lines that ended last (a line not ended yet is the newest). Only a
    first line longer than the head's share is cut (its start is written), and a last one
    longer than the tail's (its end is kept): the note counts lines shown in part apart."""

    def __init__(self, limit: Limit, *, show_stdout: bool = True,
                 out: Callable[[str, str], None] | None = None) -> None:
        self.limit = limit
        self.head, self.tail = limit.split()
        self._out = out  # where text goes (stream, text): this cell's stdout/stderr if None
        self.show_stdout = show_stdout
        self._lock = threading.Lock()
        self._pending: list[Chunk] = []  # head lines not written yet
        self._held: dict[str, bytes] = {}  # each stream's line not ended yet, in head order
        self._firsts: dict[str, bytes] = {}  # first lines come when the head was full
        self._in_tail = False
        self._streams = {"stdout": StreamCounts(), "stderr": StreamCounts()}
        self._tail = BoundedTail(self.tail, self._streams, lambda stream, data: _take_sgr(
            self._elided_sgr, stream, data))
        self._decoders: dict[str, Any] = {}
        self._last = {"stdout": "\n", "stderr": "\n"}  # last character written to each
        self._stream = "stdout"  # the stream written to last
        self._seen_steps: set[int] = set()
        #: The colours (SGR codes) each stream's head left set, and those its elided part set.
        self._head_sgr: dict[str, list[str]] = {"stdout": [], "stderr": []}
        self._elided_sgr: dict[str, list[str]] = {"stdout": [], "stderr": []}
        self._after: list[tuple[str, str]] = []  # post commands' output, after the command's

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
        """Add the output of these pre/post step results unless already added, each bounded
        by itself: a pre command's before the command's output, a post command's after."""
        for step in steps:
            if step.step in ("pre", "post") and id(step) not in self._seen_steps:
                self._seen_steps.add(id(step))
                block = _bounded(self.limit, step.stdout_bytes, step.stderr_bytes,
                                 f"the {step.step} command's result (`.steps`)")
                with self._lock:
                    if step.step == "post":
                        self._after.extend(block)
                    else:  # before anything of the command's own: no line of it is held
                        self._pending.extend((s, text.encode()) for s, text in block)

    # ---- from the magic's main thread -------------------------------------------------------
    def write_pending(self) -> None:
        """Write the head received so far."""
        with self._lock:
            pending, self._pending = self._pending, []
        self._write(pending)

    def finish(self, where: str) -> None:
        """Write what is left: the rest of the head, the elision note, the tail."""
        with self._lock:
            if not self._in_tail:  # it all fitted: the lines not ended are written too
                for stream, data in self._held.items():
                    self._to_head(stream, data)
                self._held.clear()
            self._rescue_firsts()
            pending, self._pending = self._pending, []
            tail = [(s, d) for s, d, _ in self._tail.chunks]
            lines, parts = map(sum, zip(*(s.elided() for s in self._streams.values()),
                                        strict=True))
            elided = sum(s.total - s.head - s.kept for s in self._streams.values())
            after, self._after = self._after, []
        self._write(pending)
        if elided > 0:
            self._end_lines()  # the note goes on a line of its own
            reset = "\x1b[0m" if _sets_colour(self._head_sgr["stdout"]) else ""  # note: none
            self._text("stdout", f"{reset}… {elided_lines(lines, parts)} / {human_size(elided)} "
                                 f"elided; full output in {where} (limit: %config "
                                 f"Orch.headless_lines / headless_bytes)\n")
        self._decoders.clear()  # the tail starts mid-stream: decode it afresh, from a whole
        if tail:  # character (a chunk dropped before it may have ended inside one)
            tail[0] = (tail[0][0], tail[0][1][clean_cut(tail[0][1], 0, forward=True):])
        self._write(self._coloured(tail) if elided > 0 else tail)
        self._end_lines()
        for stream, text in after:
            self._text(stream, text)
        if self._out is None:  # a step's block is text for later, written by the cell's own
            sys.stdout.flush()
            sys.stderr.flush()

    # ---- internals: the head ------------------------------------------------------------------
    def _add(self, stream: str, data: bytes) -> None:
        if not data:
            return
        counts = self._streams[stream]
        ends = data.count(b"\n")  # once per chunk: the scan is the main cost here
        with self._lock:
            counts.total += len(data)
            counts.ends += ends
            if self._in_tail:
                if counts.total == len(data):
                    self._first_line(stream, data)
                self._tail.add(stream, data, ends)
            else:
                self._head_add(stream, self._held.get(stream, b"") + data)

    def _head_add(self, stream: str, buf: bytes) -> None:
        """Write the whole lines of `buf` (`stream`'s line held so far, then new bytes) that
        fit; once the head is full, the rest goes to the tail."""
        complete = buf.rfind(b"\n") + 1
        take = _fit(buf, complete, self.head, self._head_lines(), self._head_size())
        if take == 0 < complete and self._head_size() == 0 and self.head.size is not None:
            take = clean_cut(buf, self.head.size, forward=False)  # a first line longer than it
        elif take == 0 and self._streams[stream].total == len(buf):
            self._first_line(stream, buf)  # the head filled by the other stream
        self._to_head(stream, buf[:take])
        if take < complete:
            self._held[stream] = buf[take:]
            return self._head_full()
        self._held[stream] = buf[take:]  # a line not ended yet (kept in the order it began)
        if not self._held[stream]:
            del self._held[stream]
        if self.head.over(self._head_lines() + len(self._held),
                          self._head_size() + sum(map(len, self._held.values()))):
            if self._head_size() == 0 and len(self._held) == 1 and self.head.size:
                line = self._held[stream]  # one long first line, not ended: its start
                cut = clean_cut(line, self.head.size, forward=False)
                self._to_head(stream, line[:cut])
                self._held[stream] = line[cut:]
            self._head_full()
        return None

    def _first_line(self, stream: str, data: bytes) -> None:
        """Keep aside the first line of a stream's first chunk, come when the head is full (if
        it ends within FIRST_LINE bytes and the head's bytes): `finish` writes it in the head
        if it was elided. stdout and stderr are two pipes, so which came first is not known
        when both are read at once (an error line just before a flood of data may be read
        after it): a stream's first line is not elided for lines the other won that race
        with, and where the tail shows it, it stays there."""
        end = data.find(b"\n", 0, min(FIRST_LINE, self.head.size or FIRST_LINE)) + 1
        if end:
            self._firsts[stream] = data[:end]

    def _rescue_firsts(self) -> None:
        """Write in the head each stream's first line kept aside that the tail lost whole;
        none after a head that ends inside a line (a terminal would show them glued)."""
        if any(c.head and c.head_last != NL for c in self._streams.values()):
            self._firsts.clear()
        for stream, line in self._firsts.items():
            counts = self._streams[stream]
            if counts.head == 0 and counts.total - counts.kept >= len(line):
                self._to_head(stream, line)
        self._firsts.clear()

    def _head_full(self) -> None:
        """The head has no room left: what it holds goes to the tail, and all that follows."""
        self._in_tail = True
        held, self._held = self._held, {}
        for stream, data in held.items():
            if data:
                self._tail.add(stream, data)

    def _to_head(self, stream: str, data: bytes) -> None:
        if data:
            counts = self._streams[stream]
            self._pending.append((stream, data))
            _take_sgr(self._head_sgr, stream, data)
            counts.head += len(data)
            counts.head_ends += data.count(b"\n")
            counts.head_last = data[-1]

    def _head_lines(self) -> int:
        return sum(s.head_ends for s in self._streams.values())

    def _head_size(self) -> int:
        return sum(s.head for s in self._streams.values())

    # ---- internals: writing -------------------------------------------------------------------
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

    def _end_lines(self) -> None:
        """End the last line written to each stream, on that stream (stderr's on stderr)."""
        for stream in ("stdout", "stderr"):
            if self._last[stream] != "\n":
                self._text(stream, "\n")

    def _text(self, stream: str, text: str) -> None:
        if not text:
            return
        if self._out is not None:
            self._out(stream, text)
        else:
            if stream != self._stream:  # a kernel sends each stream's buffer on its own:
                (sys.stdout if self._stream == "stdout" else sys.stderr).flush()  # in order
                self._stream = stream
            (sys.stdout if stream == "stdout" else sys.stderr).write(text)
        self._last[stream] = text[-1]


def _bounded(limit: Limit, out: bytes, err: bytes, where: str) -> list[tuple[str, str]]:
    """What a headless cell writes of this output, as (stream, text) pieces: a step's."""
    block: list[tuple[str, str]] = []
    bounded = HeadlessOutput(limit, out=lambda stream, text: block.append((stream, text)))
    bounded.feed(Stdout(out))
    bounded.feed(Stderr(err))
    bounded.finish(where)
    return block


def _fit(buf: bytes, complete: int, head: Limit, lines: int, size: int) -> int:
    """How many bytes of the whole lines `buf[:complete]` still fit in the head, which has
    `lines` lines and `size` bytes: a line's end."""
    end = complete
    if head.size is not None and end > head.size - size:
        end = buf.rfind(b"\n", 0, max(0, head.size - size)) + 1
    if head.lines is not None:
        pos = 0
        for _ in range(max(0, head.lines - lines)):
            found = buf.find(b"\n", pos, end)
            if found < 0:
                return end
            pos = found + 1
        return pos
    return end


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
