"""A bounded in-memory tail of a run's output, for `logs` of background runs."""

from __future__ import annotations

import collections
import threading

from ..process.events import Event, Stderr, Stdout
from ..secrets.masking import mask_text
from .lines import MAX_PARTIAL, CutLine, LineDecoder


class RingBuffer:
    """Keeps the last `max_lines` lines of stdout and stderr (interleaved, tagged).

    Lines follow the one line rule of `sinks.lines`; of a chunk that completes more lines than
    the ring holds, only the last ones are built. A line longer than `MAX_PARTIAL` is kept as
    its start and end with a note of how many characters are missing between them.

    The lines of one chunk are kept as one block (the list the decoder built), and blocks
    that hold only lines older than the last `max_lines` are dropped whole: feeding costs the
    decoding and splitting of the chunk, never a step per line, so a run that prints as fast
    as it can is not slowed (nor its stop delayed) by its `logs`. Lines are taken apart, and
    cut ones marked, only when read.
    """

    def __init__(self, max_lines: int = 10_000) -> None:
        self.max_lines = max_lines
        #: (stream, lines) blocks, oldest first; the first `_skip` lines of the first block
        #: are no longer kept.
        self._blocks: collections.deque[tuple[str, list[str]]] = collections.deque()
        self._kept = 0  # lines in the blocks, skipped ones included
        self._skip = 0
        self.total_lines = 0
        self._lock = threading.Lock()
        self._decoders = {"stdout": LineDecoder(MAX_PARTIAL), "stderr": LineDecoder(MAX_PARTIAL)}

    def feed(self, event: Event) -> None:
        if isinstance(event, (Stdout, Stderr)):
            stream = "stdout" if isinstance(event, Stdout) else "stderr"
            _, count, last = self._decoders[stream].feed_last(event.data, self.max_lines)
            self._keep(stream, count, last)

    def add(self, stream: str, lines: list[str]) -> None:
        """Lines of our own (`orch: …` notes), masked (they did not come through the run's
        masker), kept like the run's."""
        self._keep(stream, len(lines), [mask_text(line) for line in lines])

    def _keep(self, stream: str, count: int, lines: list[str]) -> None:
        """`count` lines ended; `lines` are the last of them (the ring keeps only those)."""
        with self._lock:
            self.total_lines += count
            if not lines or self.max_lines <= 0:
                return
            self._blocks.append((stream, lines))
            self._kept += len(lines)
            blocks = self._blocks
            while self._kept - len(blocks[0][1]) >= self.max_lines:
                self._kept -= len(blocks.popleft()[1])
            self._skip = max(0, self._kept - self.max_lines)

    def close(self) -> None:
        for stream, decoder in self._decoders.items():
            _, count, last = decoder.feed_last(b"", self.max_lines, final=True)
            self._keep(stream, count, last)

    def clear(self) -> None:
        with self._lock:
            self._blocks.clear()
            self._kept = self._skip = 0

    def _last(self, n: int | None, streams: tuple[str, ...]) -> list[str]:
        """The last `n` kept lines (all with None, none with 0, as `tail -n 0`) of `streams`,
        oldest first, marked."""
        picked: list[list[str]] = []
        wanted = self.max_lines if n is None else n
        got = 0
        blocks = self._blocks
        for i, (stream, lines) in zip(range(len(blocks) - 1, -1, -1), reversed(blocks),
                                      strict=True):
            if got >= wanted:
                break
            if stream in streams:
                start = max(self._skip if i == 0 else 0, len(lines) - (wanted - got))
                picked.append(lines[start:])
                got += len(lines) - start
        return [_marked(line) for part in reversed(picked) for line in part]

    def since(self, seen: int) -> tuple[list[str], int]:
        """Lines added after the first `seen` ones (as far as they are still kept), and the
        new total to pass next time."""
        with self._lock:
            new = self.total_lines - seen
            fresh = self._last(new, ("stdout", "stderr")) if new > 0 else []
            return fresh, self.total_lines

    def pending(self) -> list[str]:
        """The lines being written, not ended yet: a prompt waiting for its answer, a `\r`
        progress bar's last state (chains24: `logs` never showed them)."""
        with self._lock:
            texts = [_marked(decoder.partial) for decoder in self._decoders.values()]
        return [shown for text in texts if (shown := text.rpartition("\r")[2])]

    def tail(self, n: int | None = None, streams: tuple[str, ...] = ("stdout", "stderr")) -> list[str]:
        with self._lock:
            return self._last(n, streams)


def _marked(line: str) -> str:
    """A line as `logs` gives it: a cut one says where characters are missing."""
    return line.marked() if isinstance(line, CutLine) else line
