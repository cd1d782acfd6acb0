"""A bounded in-memory tail of a run's output, for `logs` of background runs."""

from __future__ import annotations

import collections
import threading

from ..process.events import Event, Stderr, Stdout
from .decode import LineSplitter, StreamDecoder


class RingBuffer:
    """Keeps the last `max_lines` lines of stdout and stderr (interleaved, tagged)."""

    def __init__(self, max_lines: int = 10_000) -> None:
        self.lines: collections.deque[tuple[str, str]] = collections.deque(maxlen=max_lines)
        self.total_lines = 0
        self._lock = threading.Lock()
        self._decoders = {"stdout": StreamDecoder(), "stderr": StreamDecoder()}
        self._splitters = {"stdout": LineSplitter(), "stderr": LineSplitter()}

    def feed(self, event: Event) -> None:
        if isinstance(event, (Stdout, Stderr)):
            stream = "stdout" if isinstance(event, Stdout) else "stderr"
            text = self._decoders[stream].feed(event.data)
            self.add(stream, self._splitters[stream].feed(text))

    def add(self, stream: str, lines: list[str]) -> None:
        """Keep lines of our own (notes such as `orch: restart 1/5`) as if the run printed them."""
        with self._lock:
            for line in lines:
                self.lines.append((stream, line))
            self.total_lines += len(lines)

    def close(self) -> None:
        for stream in ("stdout", "stderr"):
            rest = self._decoders[stream].flush()
            self.add(stream, self._splitters[stream].feed(rest) + self._splitters[stream].flush())

    def clear(self) -> None:
        with self._lock:
            self.lines.clear()

    def since(self, seen: int) -> tuple[list[str], int]:
        """Lines added after the first `seen` ones (as far as they are still kept), and the
        new total to pass next time."""
        with self._lock:
            new = self.total_lines - seen
            fresh = [line for _, line in list(self.lines)[-new:]] if new > 0 else []
            return fresh, self.total_lines

    def tail(self, n: int | None = None, streams: tuple[str, ...] = ("stdout", "stderr")) -> list[str]:
        with self._lock:
            picked = [line for stream, line in self.lines if stream in streams]
        return picked if n is None else picked[-n:]
