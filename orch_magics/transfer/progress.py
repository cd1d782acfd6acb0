"""A terminal progress bar for copies (the CLI on a tty, terminal IPython); thread-safe."""

from __future__ import annotations

import os
import sys
import threading
import time
from typing import TextIO

from ..text import columns, fit, printable
from .model import NoProgress, Progress, human

#: Seconds between redraws.
EVERY = 0.1
WIDTH = 30


class TerminalBar:
    """`label [=====>    ] 41% 412.0 MB/1.0 GB 150 MB/s` redrawn in place on a terminal."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.label = ""
        self.total: int | None = None
        self.done = 0
        self.t0 = self.last = 0.0
        self.lock = threading.Lock()

    def start(self, label: str, total: int | None) -> None:
        with self.lock:  # a name's newline or escape must not break the bar's one line
            self.label = printable(label)
            self.total = total
            self.t0 = time.monotonic()
            self.last = 0.0

    def update(self, done: int) -> None:
        now = time.monotonic()
        with self.lock:
            self.done = done
            if now - self.last >= EVERY:
                self.last = now
                self._draw(now)

    def finish(self, ok: bool | None) -> None:
        """Called after `start` only (`progress_of`)."""
        with self.lock:
            self._draw(time.monotonic(), "" if ok else "  (failed)" if ok is False
                       else "  (interrupted)")
            self.stream.write("\n")
            self.stream.flush()

    def _draw(self, now: float, tail: str = "") -> None:
        """The bar's line, then `tail`, within the terminal's width (files13: a failed copy's
        `(failed)` came after a line padded to the last column, and wrapped)."""
        # A line wider than the terminal wraps, and `\r` goes back to its last row only: every
        # redraw would leave a row behind. So the bar shrinks (to 10) for the label, then the
        # label gives way (its end, the file name, kept), and nothing passes the last column.
        rate = human(self.done / max(now - self.t0, 1e-6))
        width = _width(self.stream) - 1 - columns(tail)
        bar = ""
        if self.total:
            part = min(self.done / self.total, 1.0)
            numbers = f" {part:4.0%} {human(self.done)}/{human(self.total)} {rate}/s"
            room = width - columns(numbers) - 3  # " [" and "]"
            size = max(min(WIDTH, room - columns(self.label)), 10 if room >= 18 else 0)
            if size:
                filled = int(part * size)
                bar = " [" + "=" * filled + (">" if filled < size else "") + \
                      " " * (size - filled - 1) + "]"
        else:
            numbers = f" {human(self.done)} {rate}/s"
        label = fit(self.label, width - columns(bar + numbers))
        line = fit(label + bar + numbers, width)  # padded over the last one: no escape
        self.stream.write(f"\r{line}{' ' * (width - columns(line))}{tail}")  # (TERM=dumb)
        self.stream.flush()


def _width(stream: TextIO) -> int:
    """The terminal's columns (80 when it does not say)."""
    try:
        return os.get_terminal_size(stream.fileno()).columns or 80
    except (AttributeError, OSError, ValueError):
        return 80


def for_stream(stream: TextIO | None = None) -> Progress:
    """A bar when `stream` (default stderr) is a terminal, else nothing (piped output)."""
    stream = stream or sys.stderr
    isatty = getattr(stream, "isatty", None)
    return TerminalBar(stream) if isatty is not None and isatty() else NoProgress()
