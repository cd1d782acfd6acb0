"""The one text model for output: how bytes become text and text becomes lines, for every sink.

The rule, used by the filters, the live display, the ring buffer of named runs, the captured
result (`RunResult.lines`, `iter_lines`, `line_count`) and nothing else:

- Bytes are decoded as UTF-8, incrementally: a character split across chunks is decoded whole;
  bytes that are not UTF-8 become U+FFFD (one per invalid sequence, wherever the chunks end).
- A line ends at `\\n`. One `\\r` right before that `\\n` belongs to the line ending, not to the
  line (`ERROR\\r\\n` is the line `ERROR`). Any other `\\r` is part of the line's text: a
  progress bar's `50%\\r100%` is one line, and a display shows what a terminal would show
  (`terminal_view`: each `\\r` returns to the start of the line and overwrites).
- Text after the last `\\n` is a last line without ending: it counts as a line at the end of the
  stream when it is not empty. Empty lines between endings are lines.

A bounded decoder (the display, the ring buffer) keeps the start and the end of a line longer
than it holds and gives it as a `CutLine`, which knows how many characters it lost, so a
front end can say how long the line really was.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Iterable, Iterator

NEWLINE = "\n"
CR = "\r"
#: What a bounded sink holds of a line not ended yet (characters, or bytes where it keeps
#: bytes): its start and its end; past it the line is cut or goes out in pieces.
MAX_PARTIAL = 64 * 1024


def strip_ending(line: str) -> str:
    """A line as split at `\\n`, without the one `\\r` that may close it."""
    return line[:-1] if line.endswith(CR) else line


def _strip_all(lines: list[str], text: str) -> list[str]:
    """`strip_ending` on each line; free when `text` (their source) has no `\\r` at all."""
    if CR not in text:
        return lines
    return [line[:-1] if line.endswith(CR) else line for line in lines]


BS = "\b"
_BACKSPACED = re.compile("[^\x08]\x08")
ESC = "\x1b"
#: An escape sequence (CSI, or an OSC to its end) or one character: a `\r` line's pieces.
_TOKEN = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b.?|.", re.S)
#: Erase in line: to its end (none, 0), or all of it (2); 1 (to the cursor) is rare.
_ERASE = re.compile(r"\x1b\[([012]?)K")


def terminal_view(line: str) -> str:
    """What a terminal shows for a line with bare `\\r` (later text overwrites from column 0)
    or backspaces (the character before one is gone, as JupyterLab shows `print('a\\bb')`).
    A `CutLine`'s is its `shown()`."""
    if isinstance(line, CutLine):
        return line.shown()
    if CR in line and ESC in line:
        line = _overlaid(line.split(CR))
    elif CR in line:
        shown = ""
        for piece in line.split(CR):
            shown = piece + shown[len(piece):]
        line = shown
    if BS in line:
        while (fewer := _BACKSPACED.sub("", line)) != line:
            line = fewer
        line = line.replace(BS, "")
    return line


def _overlaid(pieces: list[str]) -> str:
    """`terminal_view` of `\r`-separated pieces holding escape sequences, which take no
    column (browser22: `ok1;32m[######]` where a terminal shows `ok`); `ESC[K` erases to the
    end of the line, `ESC[2K` all of it. Each column keeps the sequences written before it."""
    cells: list[str] = []
    for piece in pieces:
        col, pending = 0, ""
        for found in _TOKEN.finditer(piece):
            token = found[0]
            if token[0] != ESC:
                cells[col:col + 1] = [pending + token]
                col, pending = col + 1, ""
            elif (erase := _ERASE.fullmatch(token)) is not None:
                cells = cells[:col] if erase[1] in ("", "0") else [" "] * col
            else:
                pending += token
        if pending:  # a colour reset after the last character: kept, taking no column
            cells[col:col] = [pending]
    return "".join(cells)


Reach = tuple[int, int]


def reach_of(text: str, reach: Reach = (0, 0)) -> Reach:
    """(the widest column, the cursor's) once a terminal has written `text` from `reach`."""
    widest, col = reach
    if CR not in text:
        return max(widest, col + len(text)), col + len(text)
    pieces = text.split(CR)
    return max(widest, col + len(pieces[0]), max(map(len, pieces[1:]))), len(pieces[-1])


class CutLine(str):
    """A line a bounded decoder kept only part of: its text is the line's first `at`
    characters and its end; `dropped` characters between them are gone. `reach` is where a
    terminal stood where its kept end begins (by default, as if no `\r` was dropped)."""

    dropped: int
    at: int
    reach: Reach

    def __new__(cls, text: str, dropped: int, at: int, reach: Reach | None = None) -> CutLine:
        line = super().__new__(cls, text)
        line.dropped, line.at = dropped, at
        if reach is None:
            widest, col = reach_of(text[:at])
            reach = max(widest, col + dropped), col + dropped
        line.reach = reach
        return line

    def shown(self) -> CutLine:
        """What a terminal shows of it: its end alone where that returns to the start of the
        line (a long progress bar), else the start's view and the end's, still counting every
        character it stood for. Viewed whole, the start's last frame and the end's first ran
        together into one longer than any (browser25: a bar at 30000/30000 read 3000000)."""
        head, end = self[:self.at], self[self.at:]
        if CR in end.rstrip(CR):
            view = terminal_view(end)
            # browser25: a short last frame (`\rY`) leaves the rest of a long line on screen
            widest = reach_of(end, self.reach)[0]
            if widest > len(view):
                return CutLine(view, widest - len(view), len(view))
            return CutLine(view, self.dropped + len(self) - len(view), 0)
        view, end_view = terminal_view(head), terminal_view(end)
        return CutLine(view + end_view, self.dropped + len(self) - len(view) - len(end_view),
                       len(view))

    def marked(self) -> str:
        """What a terminal shows of it, with a note where characters are missing (for `logs`:
        a note put among `\r` frames was overwritten by the next, browser25)."""
        view = self.shown()
        head, end = f"{view[:view.at]} … " if view.at else "… ", view[view.at:]
        return f"{head}({view.dropped} chars not kept)" + (f" … {end}" if end else "")


class LineDecoder:
    """bytes chunks in, complete lines out (without ending); `final=True` ends the stream.

    `max_partial` bounds the characters of every line it gives and of the line not ended
    yet, so neither a stream without newlines nor one of long lines can grow a bounded sink
    (None keeps all): past it, the line's first half of that and its latest characters are
    kept (the end is what a progress bar's `\\r` shows) and the line comes out as a `CutLine`
    counting the rest.
    """

    def __init__(self, max_partial: int | None = None) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._pieces: list[str] = []
        self._held = 0  # characters kept of the pending line, head included
        self._max = max_partial
        self._head: str | None = None  # the pending line's start, once it has been cut
        self._dropped = 0  # characters of the pending line not kept
        self._reach: Reach = (0, 0)  # a terminal's, where its kept end begins

    @property
    def partial(self) -> str:
        """The text of the line not ended yet (a `\\r` at its end may still be an ending)."""
        if len(self._pieces) > 1:
            self._pieces = ["".join(self._pieces)]
        return self._line(self._pieces[0] if self._pieces else "")

    def _line(self, end: str) -> str:
        """The pending line made of its kept start (if it was cut) and `end`."""
        line = end if self._head is None else CutLine(self._head + end, self._dropped,
                                                      len(self._head), self._reach)
        return line if self._max is None else cut(line, self._max)

    def _take(self, last: str) -> str:
        """The pending line, ended by `last` (its ending stripped); nothing is pending after."""
        self._pieces.append(last)
        line = self._line(strip_ending("".join(self._pieces)))
        self._reset()
        return line

    def _reset(self) -> None:
        self._pieces.clear()
        self._held = 0
        self._head = None
        self._dropped = 0
        self._reach = (0, 0)

    def feed(self, data: bytes, final: bool = False) -> list[str]:
        """The lines that `data` completes, in order; `final` ends the stream (last line too)."""
        lines = self.feed_text(self._decoder.decode(data, final))
        return lines + self._end() if final else lines

    def feed_text(self, text: str) -> list[str]:
        """Like `feed`, for text already decoded."""
        if NEWLINE not in text:
            self._hold(text)
            return []
        lines = text.split(NEWLINE)
        rest = lines.pop()
        out = self._bounded(_strip_all(lines, text), text)
        if self._pieces or self._head is not None:  # its `\r` may have come in an earlier chunk
            out[0] = self._take(lines[0])
        self._hold(rest)
        return out

    def feed_last(self, data: bytes, n: int, final: bool = False) -> tuple[str, int, list[str]]:
        """Decode `data`; return its text, how many lines it completes, and the last `n` of them.

        For bounded sinks (display tail, ring buffer): lines before the last `n` of a chunk are
        counted but never built.
        """
        text = self._decoder.decode(data, final)
        count = text.count(NEWLINE)
        if count <= n:
            lines = self.feed_text(text)
        else:
            pieces = text.rsplit(NEWLINE, n + 1)
            self._reset()  # the pending line ended inside the dropped part
            self._hold(pieces.pop())
            lines = self._bounded(_strip_all(pieces[1:], text), text)
        if final:
            last = self._end()
            count += len(last)
            lines = (lines + last)[-n:] if n > 0 else []
        return text, count, lines

    def _bounded(self, lines: list[str], text: str) -> list[str]:
        """`lines` (of `text`) each within `max_partial` characters; free when `text` is not
        longer than that."""
        if self._max is None or len(text) <= self._max:
            return lines
        limit = self._max
        return [line if len(line) <= limit else cut(line, limit) for line in lines]

    def cut_long(self, limit: int) -> list[str]:
        """The line not ended yet, as a line of its own once it holds more than `limit`
        characters (a reader that must see whole lines cannot hold one that never ends)."""
        if self._held <= limit:
            return []
        line = self.partial
        self._reset()
        if line.endswith(CR):  # it may be the start of a `\r\n` ending: it waits
            self._hold(CR)
            line = (CutLine(line[:-1], line.dropped, line.at, line.reach)
                    if isinstance(line, CutLine) else line[:-1])
        return [line]

    def _end(self) -> list[str]:
        """The line not ended by `\n` when the stream ends (none when it is empty)."""
        rest = self.partial
        self._reset()
        return [rest] if rest else []

    def _hold(self, text: str) -> None:
        """Keep `text` as part of the line not ended yet; past twice `max_partial`, cut it back
        to its head (half of that, kept once) and its latest characters (the other half)."""
        if not text:
            return
        self._pieces.append(text)
        self._held += len(text)
        if self._max is None or self._held <= 2 * self._max:
            return
        line = self._line("".join(self._pieces))  # `cut` to max_partial: a CutLine
        assert isinstance(line, CutLine)
        self._head, self._dropped, self._held = line[:line.at], line.dropped, len(line)
        self._reach = line.reach
        self._pieces[:] = [line[line.at:]]


def cut(line: str, limit: int) -> str:
    """`line` in at most `limit` characters: its first half of them (a CutLine's own start, as
    it was kept) and its last ones, as a CutLine counting every character not kept."""
    if len(line) <= limit:
        return line
    if isinstance(line, CutLine):
        head, rest, dropped, reach = line[:line.at], line[line.at:], line.dropped, line.reach
    else:
        head, rest, dropped = line[:limit // 2], line[limit // 2:], 0
        reach = reach_of(head)
    keep = max(1, limit - len(head))
    return CutLine(head + rest[-keep:], dropped + len(rest) - keep, len(head),
                   reach_of(rest[:-keep], reach))


def iter_lines(chunks: Iterable[bytes]) -> Iterator[str]:
    """Every line of a byte stream given as chunks, by the rule above."""
    decoder = LineDecoder()
    for chunk in chunks:
        yield from decoder.feed(chunk)
    yield from decoder.feed(b"", final=True)


def count_lines(chunks: Iterable[bytes]) -> int:
    """How many lines `iter_lines` yields, without decoding (a UTF-8 `\\n` is always a byte 10)."""
    count = 0
    last = b""
    for chunk in chunks:
        if chunk:
            count += chunk.count(b"\n")
            last = chunk[-1:]
    return count + (1 if last not in (b"", b"\n") else 0)
