"""The last lines of a run's streams, as a view keeps them, and the colours set by the lines
it no longer holds: a colour holds until reset, as on a terminal, also once the line that set
it has scrolled out. The one tail a cell's display and a fleet target's row both keep.
"""

from __future__ import annotations

import collections
from collections.abc import Sequence
from typing import Literal

from .ansi import Colours
from .lines import LineDecoder

#: The stream a line came on (`stdin`: a line the user sent, as a view echoes it; `note`:
#: orch's own word between a named run's attempts).
Stream = Literal["stdout", "stderr", "stdin", "note"]


class ColouredTail:
    """The last `size` lines, `(stream, line)`, and per stream the colours they start from;
    `dropped`: how many lines came before them (echoes and notes too: what a person no
    longer sees, browser11), never built or scrolled out."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.lines: collections.deque[tuple[Stream, str]] = collections.deque()
        self.dropped = 0
        self._carry: dict[Stream, Colours] = {"stdout": Colours(), "stderr": Colours()}

    def feed(self, stream: Stream, decoder: LineDecoder, data: bytes, final: bool = False, *,
             keep: bool = True) -> int:
        """Decode `data` with the stream's decoder and keep the last lines it ends (`keep`:
        else only count them); how many it ends. Lines before the last `size` are never built,
        but the colours they set are taken in."""
        before = decoder.partial  # the line `data` may end
        text, count, lines = decoder.feed_last(data, self.size, final)
        if keep:
            if count > len(lines) and ("\x1b" in text or "\x1b" in before):
                self._drop(len(self.lines))  # older than those never built: theirs come first
                self._carry[stream].apply(before + _before_last(text, len(lines)))
            self.dropped += count - len(lines)
            self.add(stream, lines)
        return count

    def add(self, stream: Stream, lines: Sequence[str]) -> None:
        self._drop(len(self.lines) + len(lines) - self.size)
        self.lines.extend((stream, line) for line in lines)

    def colours(self) -> dict[Stream, list[str]]:
        """The colours each stream's oldest line kept starts from (as SGR classes)."""
        return {stream: list(colours.classes) for stream, colours in self._carry.items()}

    def _drop(self, count: int) -> None:
        """Drop the `count` oldest lines; the colours they set hold on."""
        for _ in range(min(count, len(self.lines))):
            stream, line = self.lines.popleft()
            self.dropped += 1
            if "\x1b" in line and stream != "stdin":
                self._carry[stream].apply(line)


def _before_last(text: str, kept: int) -> str:
    """The start of `text` up to the `kept` last lines it ends."""
    end = len(text)
    for _ in range(kept + 1):
        end = text.rfind("\n", 0, end)
    return text[:max(end, 0)]
