"""TargetRow: the live state of one fleet target (a sink of its run), what a live view shows:
its state, times, bytes and last lines."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence

from ..engine import Run
from ..process.events import Event, Stderr, Stdout
from ..result import RunResult
from ..secrets.masking import mask_text
from ..sinks.ansi import carried
from ..sinks.lines import CR, CutLine, LineDecoder, terminal_view
from ..sinks.secret_prompt import HIDDEN, PromptWatch
from ..sinks.tail import ColouredTail, Stream
from .options import TAIL_LINES

#: Lines a row keeps at least, to find its last line that shows something (its title).
LAST_LINES = 20
#: Lines a row shows at most, whatever `--tail` asks: every target's row keeps them, and the
#: live view re-renders 50 rows ~10 times a second (all lines are in each RunResult).
ROW_LINES = 1000
#: Characters kept of a target's line not ended yet in its row (its start and its end, as the
#: live display of one run keeps them), so a stream without newlines cannot grow a row.
ROW_PARTIAL = 4096
class TargetRow:
    """The live state of one target (a sink of its run): what a live view shows.

    Its output follows the one line model of `sinks.lines`, as a single run's display does:
    stdout and stderr decoded incrementally (a character split across chunks stays whole), a
    line written in several chunks is one line, and the line still being written is shown as
    it grows (`\\r` and colours are left for the view to render, as a terminal would).
    A view shows its last `tail` lines (at most `ROW_LINES`) and how many came before them
    (`view`).
    Fed on the loop's thread, read from the view's: the lock keeps the two apart.
    """

    def __init__(self, label: str, on_change: Callable[[TargetRow], None],
                 tail: int = TAIL_LINES) -> None:
        self.label = label
        self.shows = min(tail, ROW_LINES)
        self._keep = max(self.shows, LAST_LINES)
        self._ended = 0  # lines ended so far, shown or not
        self._state = "queued"
        self.started: float | None = None
        self.ended: float | None = None
        self.bytes = 0
        self.result: RunResult | None = None
        self.run: Run | None = None
        self._on_change = on_change
        self._tail = ColouredTail(self._keep)
        self._decoders: dict[Stream, LineDecoder] = {
            "stdout": LineDecoder(ROW_PARTIAL), "stderr": LineDecoder(ROW_PARTIAL)}
        self._lock = threading.Lock()
        self.prompts = PromptWatch()  # what a line typed answers: a password shows as dots
        #: The start of each stream's line being written that shows above an echo already.
        self._placed: dict[Stream, str] = {"stdout": "", "stderr": ""}

    @property
    def duration(self) -> float:
        if self.started is None:
            return 0.0
        return (self.ended or time.monotonic()) - self.started

    @property
    def state(self) -> str:
        """queued, starting (its hops still connecting: no process yet, as a single run's
        cell says; browser14), running, then how it ended (`fleet.result.STATES`)."""
        if self._state == "running" and (self.run is None or self.run.handle is None):
            return "starting"
        return self._state

    def set(self, state: str) -> None:
        self._state = state
        now = time.monotonic()
        if state == "running":
            self.started = now
        elif state != "queued":
            self.ended = now
            self.prompts.ended()
        self._on_change(self)

    def feed(self, event: Event) -> None:
        if isinstance(event, (Stdout, Stderr)):
            stream: Stream = "stdout" if isinstance(event, Stdout) else "stderr"
            with self._lock:
                self.bytes += len(event.data)
                self._add_ended(stream, self._tail.feed(stream, self._decoders[stream],
                                                        event.data))
                self.prompts.heard(stream, event.data)

    def note_stdin(self, lines: Sequence[str], hide: bool = False) -> None:
        """Lines typed in the stdin box that this target got, shown below the output that
        asked for them, as a single run's view shows them (browser20: a fleet's box echoed
        nothing); after a prompt for a secret, as dots, and with `hide` (another target asks:
        the box showed dots, review38)."""
        with self._lock:
            for stream, decoder in self._decoders.items():  # the prompt above its answer
                partial, placed = decoder.partial, self._placed[stream]
                if (len(partial) > len(placed) and partial.startswith(placed)
                        and CR not in partial and not isinstance(partial, CutLine)):
                    self._tail.add(stream, [partial[len(placed):]])
                    self._placed[stream] = partial
                    self._ended += 1
            asking = self.prompts.asking()
            self._tail.add("stdin", [HIDDEN if asking or hide else mask_text(line)
                                     for line in lines])
            self._ended += len(lines)
            self.prompts.answered(asking)

    def _add_ended(self, stream: Stream, count: int) -> None:
        """`count` lines of `stream` ended; the first one's start may show already, above an
        echo (`note_stdin`): its row keeps the rest, or is not a row of its own when nothing
        came after the start."""
        placed = self._placed.get(stream, "")
        if count and placed:
            self._placed[stream] = ""
            lines = self._tail.lines
            at = len(lines) - count
            if at >= 0 and lines[at][0] == stream and lines[at][1].startswith(placed):
                if lines[at][1] == placed:
                    del lines[at]
                    count -= 1
                else:
                    lines[at] = (stream, lines[at][1][len(placed):])
        self._ended += count

    def close(self) -> None:
        with self._lock:
            for stream, decoder in self._decoders.items():
                self._add_ended(stream, self._tail.feed(stream, decoder, b"", final=True))

    def view(self) -> tuple[list[tuple[Stream, str]], int, dict[Stream, list[str]]]:
        """The target's last `tail` lines, `(stream, line)`, the lines still being written
        last, how many earlier lines they leave out (all are in its RunResult), and the
        colours each stream's first line shown starts from (`cell_view.lines_html`)."""
        with self._lock:
            lines = self._latest()
            total = self._ended + len(lines) - len(self._tail.lines)
            colours = self._tail.colours()
        cut = len(lines) - self.shows if self.shows else len(lines)
        for stream, line in lines[:max(cut, 0)]:  # kept for the title, not shown
            if "\x1b" in line:
                colours[stream] = carried(colours[stream], line)
        shown = lines[max(cut, 0):]
        return shown, total - len(shown), colours

    def _latest(self) -> list[tuple[Stream, str]]:
        """The lines kept, then the lines still being written (under the lock)."""
        lines = list(self._tail.lines)
        for stream, decoder in self._decoders.items():
            partial, placed = decoder.partial, self._placed[stream]
            rest = partial[len(placed):] if placed and partial.startswith(placed) else partial
            if rest:
                lines.append((stream, rest))
        return lines

    @property
    def last_line(self) -> str:
        """The last line that shows something (stdout or stderr), as a terminal shows it."""
        with self._lock:
            latest = self._latest()
        for stream, line in reversed(latest):
            if stream not in ("stdout", "stderr"):  # the echo of input is not what it said
                continue
            shown = terminal_view(line)
            if shown.strip():
                return shown
        return ""
