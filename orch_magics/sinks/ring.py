"""A bounded in-memory tail of a run's output, for `logs` of background runs."""

from __future__ import annotations

import collections
import threading

from ..process.events import Event, Stderr, Stdout
from ..secrets.masking import mask_text
from .lines import CutLine, LineDecoder

#: Characters kept of a line that has not ended yet (its start and its end are kept).
MAX_PARTIAL = 64 * 1024


class RingBuffer:
    """Keeps the last `max_lines` lines of stdout and stderr (interleaved, tagged).

    Lines follow the one line rule of `sinks.lines`; of a chunk that completes more lines than
    the ring holds, only the last ones are built. A line longer than `MAX_PARTIAL` is kept as
    its start and end with a note of how many characters are missing between them.
    """

    def __init__(self, max_lines: int = 10_000) -> None:
        self.lines: collections.deque[tuple[str, str]] = collections.deque(maxlen=max_lines)
        self._max_lines = max_lines
        self.total_lines = 0
        self._lock = threading.Lock()
        self._decoders = {"stdout": LineDecoder(MAX_PARTIAL), "stderr": LineDecoder(MAX_PARTIAL)}

    def feed(self, event: Event) -> None:
        if isinstance(event, (Stdout, Stderr)):
            stream = "stdout" if isinstance(event, Stdout) else "stderr"
            _, count, last = self._decoders[stream].feed_last(event.data, self._max_lines)
            self._keep(stream, count, _marked(last))

    def add(self, stream: str, lines: list[str]) -> None:
        """Lines of our own (`orch: …` notes), masked (they did not come through the run's
        masker), kept like the run's."""
        self._keep(stream, len(lines), [mask_text(line) for line in lines])

    def _keep(self, stream: str, count: int, lines: list[str]) -> None:
        """`count` lines ended; `lines` are the last of them (the ring keeps only those)."""
        with self._lock:
            self.lines.extend((stream, line) for line in lines)
            self.total_lines += count

    def close(self) -> None:
        for stream, decoder in self._decoders.items():
            _, count, last = decoder.feed_last(b"", self._max_lines, final=True)
            self._keep(stream, count, _marked(last))

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



def _marked(lines: list[str]) -> list[str]:
    """Lines as `logs` gives them: a cut one says where characters are missing."""
    return [line.marked() if isinstance(line, CutLine) else line for line in lines]
