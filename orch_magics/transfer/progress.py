"""A terminal progress bar for copies (the CLI on a tty, terminal IPython); thread-safe."""

from __future__ import annotations

import sys
import threading
import time
from typing import TextIO

from ..sinks.units import printable
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

    def finish(self, ok: bool) -> None:
        with self.lock:
            if self.t0:
                self._draw(time.monotonic())
                self.stream.write("\n" if ok else "  (failed)\n")
                self.stream.flush()

    def _draw(self, now: float) -> None:
        rate = self.done / max(now - self.t0, 1e-6)
        if self.total:
            part = min(self.done / self.total, 1.0)
            filled = int(part * WIDTH)
            bar = "=" * filled + (">" if filled < WIDTH else "") + " " * (WIDTH - filled - 1)
            amount = f"[{bar}] {part:4.0%} {human(self.done)}/{human(self.total)}"
        else:
            amount = human(self.done)
        self.stream.write(f"\r{self.label} {amount} {human(rate)}/s\x1b[K")
        self.stream.flush()


def for_stream(stream: TextIO | None = None) -> Progress:
    """A bar when `stream` (default stderr) is a terminal, else nothing (piped output)."""
    stream = stream or sys.stderr
    isatty = getattr(stream, "isatty", None)
    return TerminalBar(stream) if isatty is not None and isatty() else NoProgress()
