"""`%orch logs NAME -f` in a cell, bounded as a run's own cell is (browser14: 200,000 lines
followed wrote 3 MB into one cell, and the saved notebook grew by as much).

In a front end one display shows the last lines, replaced in place at each look that brought
new ones; headless (nbclient, papermill, a terminal) the first lines are written as they come,
and at the end a note of what was left out and the last lines.
"""

from __future__ import annotations

import collections
from typing import Any

from IPython.display import display

from ..sinks.lines import terminal_view
from ..text import plural

#: Lines a front end's followed view shows unless -n says (a run's cell shows as many).
LIVE_LINES = 40
#: Bytes that view shows at most: it is sent again at each look with new lines (10 a
#: second at most), which stays under jupyter_server's 1 MB/s output limit.
LIVE_BYTES = 64 << 10


def line_size(line: str) -> int:
    """The bytes a kept line takes in a cell, its newline included."""
    return len(line.encode("utf-8", "surrogateescape")) + 1


class FollowedInCell:
    """Takes each look's new lines (`add`) and writes a bounded view of them to the cell: in
    a front end (`live`) the last `shown` lines (at most `lines`), headless the first and
    the last of them; `size` bytes at most."""

    def __init__(self, name: str, *, live: bool, shown: int | None, lines: int,
                 size: int) -> None:
        self.name = name
        self.live = live
        self.lines, self.size = (min(shown or LIVE_LINES, lines), min(size, LIVE_BYTES)) \
            if live else (lines // 2, size // 2)
        self.tail: collections.deque[str] = collections.deque()
        self.tail_size = 0
        self.head_size = 0
        self.written = 0  # lines written as they came (headless)
        self.left_out = 0
        self.handle: Any = None
        self.head_open = not live  # headless: lines are written as they come, until one
        # does not fit; every later one is kept for the end, in order (review25)

    def add(self, batch: list[str]) -> None:
        for line in batch:
            if self.head_open and self.written < self.lines and \
                    self.head_size + line_size(line) <= self.size:
                print(line)
                self.written += 1
                self.head_size += line_size(line)
            else:
                self.head_open = False
                self._keep(line)
        if self.live:  # at each look that brought lines: an idle run's last ones are shown
            self._show()

    def _keep(self, line: str) -> None:
        line = terminal_view(line)  # a display's `\r` breaks the line: each frame of a bar
        self.tail.append(line)  # became a row (browser17); a terminal shows the last state
        self.tail_size += line_size(line)
        while len(self.tail) > self.lines or self.tail_size > self.size and len(self.tail) > 1:
            self.tail_size -= line_size(self.tail.popleft())
            self.left_out += 1

    def _note(self) -> str:
        return (f"… {plural(self.left_out, 'line')} followed and not shown here (%orch logs "
                f"{self.name} -n N shows the last N kept)")

    def _text(self) -> str:
        return "\n".join([self._note()] * bool(self.left_out) + list(self.tail))

    def _show(self) -> None:
        bundle = {"text/plain": self._text()}
        if self.handle is None:
            self.handle = display(bundle, raw=True, display_id=True)
        else:
            self.handle.update(bundle, raw=True)

    def finish(self) -> None:
        """The end of the following: the view as it is now, or the note and the last lines."""
        if self.live:
            if self.tail or self.handle is not None:
                self._show()
        elif self.tail:
            print(self._text(), flush=True)
