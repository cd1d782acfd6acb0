"""The lines of a run's pre and post commands a cell's view shows, as they come.

A pre command of minutes (a backup, a migration check) must show what it prints while it runs,
as `orch run` does (magics14: the cell showed `starting` until it ended, then all at once).
The view's `for_steps()` sink feeds these; a step that no live sink saw (a view attached after
it ran) is added from its result instead.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from typing import Any

from ..process.events import Event, Stderr, Stdout
from .base import StepKind
from .lines import MAX_PARTIAL, LineDecoder
from .tail import Stream

Rows = list[tuple[Stream, str]]


class StepLines:
    """The last `size` lines, `(stream, line)`, of one kind of step (pre or post): what its
    steps printed so far, lines not ended yet last."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.rows: Rows = []
        self._decoders: dict[Stream, LineDecoder] = {}

    def begin(self) -> None:
        """A step of this kind starts: its lines follow the earlier steps' ones."""
        self._decoders = {"stdout": LineDecoder(MAX_PARTIAL), "stderr": LineDecoder(MAX_PARTIAL)}

    def feed(self, stream: Stream, data: bytes, final: bool = False) -> None:
        if (decoder := self._decoders.get(stream)) is not None:
            self.add(stream, decoder.feed(data, final))

    def end(self) -> None:
        """The step ended: its lines not ended yet are lines now."""
        for stream in ("stdout", "stderr"):
            self.feed(stream, b"", final=True)  # type: ignore[arg-type]
        self._decoders = {}

    def add(self, stream: Stream, lines: Iterable[str]) -> None:
        self.rows.extend((stream, line) for line in lines)
        del self.rows[:-self.size or len(self.rows)]

    def shown(self) -> Rows:
        """The rows, and the lines a running step has not ended yet."""
        partial: Rows = [(s, d.partial) for s, d in self._decoders.items() if d.partial]
        return (self.rows + partial)[-self.size:] if self.size else []


class StepViews:
    """A view's pre and post lines, which step runs now (`running`), and the results already
    shown, so a step's result at the end does not show its lines twice."""

    def __init__(self, size: int) -> None:
        self.kinds = {"pre": StepLines(size), "post": StepLines(size)}
        self.running: StepKind | None = None
        self._seen: set[int] = set()
        self._live = False  # the running step's lines are fed as they come

    def started(self, kind: StepKind) -> None:
        self.running, self._live = (kind if kind in self.kinds else None), False
        if kind in self.kinds:
            self.kinds[kind].begin()

    def feed(self, lock: threading.Lock, refresh: Callable[[], None]) -> StepFeed:
        """The running step's sink (its lines come from it, not from its result)."""
        self._live = True
        return StepFeed(self, lock, refresh)

    def finished(self, kind: StepKind, result: Any) -> None:
        """A step ended: its lines not ended yet are lines now, or its result's are added."""
        self.running = None
        if kind in self.kinds and self._live:
            self.kinds[kind].end()
            self._seen.add(id(result))
        self.add_results([result])

    def add_results(self, results: Iterable[Any]) -> None:
        """Show the lines of these step results (RunResult) unless already shown."""
        for step in results:
            if id(step) in self._seen or step.step not in self.kinds:
                continue
            self._seen.add(id(step))
            for stream in ("stdout", "stderr"):
                buffer = step.stdout_buffer if stream == "stdout" else step.stderr_buffer
                self.kinds[step.step].add(stream, buffer.iter_lines())  # type: ignore[arg-type]


class StepFeed:
    """The sink a running step's output goes to (`DisplaySink.for_steps`): its lines join the
    view's rows of that kind under the view's lock, and the view is refreshed."""

    def __init__(self, views: StepViews, lock: threading.Lock,
                 refresh: Callable[[], None]) -> None:
        self.views, self._lock, self._refresh = views, lock, refresh

    def feed(self, event: Event) -> None:
        if isinstance(event, (Stdout, Stderr)) and (kind := self.views.running) in ("pre", "post"):
            with self._lock:
                self.views.kinds[kind].feed(  # type: ignore[index]
                    "stdout" if isinstance(event, Stdout) else "stderr", event.data)
            self._refresh()

    def close(self) -> None:
        pass
