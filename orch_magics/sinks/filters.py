"""Output filters: grep, jq, head, tail, replace on stdout lines, as they stream.

Each configured filter (`config.model.GrepFilter` …) becomes a `LineFilter`: `feed(lines)`
takes a batch of lines and yields, batch by batch, what it lets through (zero, one or more per
line), `finish()` what it still holds when the stream ends (tail). Working a batch of lines at a
time keeps the per-line cost to the filter's own work.

`FilterChain` folds them, in the configured order, into one event → events transform for the
runner: Stdout chunks are cut into lines by the one line rule of `sinks.lines` (a partial last
line waits for its end; `ERROR\r\n` is the line `ERROR`), the lines go through every filter, and
what comes out is Stdout again, each line ended by `\n`. Stderr and Exit pass through untouched,
so every sink after the chain sees the filtered stream.

A jq program can turn one line into endless output (`range(1e9)`), so nothing here is built
whole: the jq filter hands its values on at most `BATCH` at a time, the chain takes a batch
through the later filters before asking for more (depth first), and `FilterChain.stream` hands
its caller each piece of output as it is ready plus a `None` after every step of work. The
caller (`engine.pipeline`) lets the event loop run between steps, so stop signals, timeouts and
the stop ladder keep working, and it closes the stream to abandon a runaway filter. One step
inside libjq that computes for long without producing a value (`last(range(1e12))`) holds the
interpreter until it ends: that cannot be cut short from Python.

Lines are decoded as UTF-8 (undecodable bytes replaced) only when there are filters: without
filters the runner never builds a chain and bytes pass exactly.
"""

from __future__ import annotations

import collections
import re
from collections.abc import Callable, Generator, Iterable, Iterator, Sequence
from typing import Protocol

from ..config.jq_program import compile_program
from ..config.model import FilterSpec, GrepFilter, HeadFilter, JqFilter, ReplaceFilter, TailFilter
from ..process.events import Event, Exit, Stderr, Stdout
from .lines import LineDecoder

Report = Callable[[str], None]

#: The most values a jq filter takes from its program (or lines it works through) before it
#: hands on what it has: the unit of work between two chances for the event loop to run.
BATCH = 1024
#: Characters of a line grep, replace, head and tail wait for the end of; past it, what came
#: so far goes through them as a line (a progress bar redrawn with `\r` forever never ends its
#: line; a run's capture spills to disk past as much).
MAX_LINE = 16 << 20


class LineFilter(Protocol):
    """One filter over lines (without their ending), fed a batch of lines at a time."""

    def feed(self, lines: list[str]) -> Iterator[list[str]]: ...

    def finish(self) -> list[str]: ...


class Grep:
    """The lines a regular expression finds (or, with `invert`, does not find)."""

    def __init__(self, spec: GrepFilter) -> None:
        flags = re.IGNORECASE if spec.ignore_case else 0
        self._search = re.compile(spec.pattern, flags).search
        self._invert = spec.invert

    def feed(self, lines: list[str]) -> Iterator[list[str]]:
        search, invert = self._search, self._invert
        yield [line for line in lines if (search(line) is None) == invert]

    def finish(self) -> list[str]:
        return []


class Replace:
    """Each line with a regular expression's matches replaced (`\\1` refers to groups)."""

    def __init__(self, spec: ReplaceFilter) -> None:
        self._sub = re.compile(spec.pattern).sub
        self._replacement = spec.replacement

    def feed(self, lines: list[str]) -> Iterator[list[str]]:
        sub, replacement = self._sub, self._replacement
        yield [sub(replacement, line) for line in lines]

    def finish(self) -> list[str]:
        return []


class Head:
    """The first N lines; the rest is dropped (the process keeps running and is not stopped)."""

    def __init__(self, spec: HeadFilter) -> None:
        self._left = max(spec.lines, 0)

    def feed(self, lines: list[str]) -> Iterator[list[str]]:
        kept = lines[:self._left]
        self._left -= len(kept)
        yield kept

    def finish(self) -> list[str]:
        return []


class Tail:
    """The last N lines, released when the stream ends."""

    def __init__(self, spec: TailFilter) -> None:
        self._lines: collections.deque[str] = collections.deque(maxlen=max(spec.lines, 0))

    def feed(self, lines: list[str]) -> Iterator[list[str]]:
        self._lines.extend(lines)
        yield []

    def finish(self) -> list[str]:
        lines = list(self._lines)
        self._lines.clear()
        return lines


class Jq:
    """A jq program (compiled once, by the `jq` bindings to libjq) run on each JSON line.

    A line that is not JSON, or on which the program fails, is "invalid": passed through,
    dropped, or dropped and reported on stderr, as `on_invalid` says.
    """

    def __init__(self, spec: JqFilter, report: Report) -> None:
        # libjq writes the values itself, as the jq tool does: through Python a number became
        # a float (an id above 2**53 printed as another number) and `1.0` printed as `1`.
        last = "if type == \"string\" then . else tojson end" if spec.raw else "tojson"
        try:
            self._program = compile_program(spec.query, last)
        except ValueError as exc:
            from ..errors import ConfigError

            raise ConfigError(str(exc)) from None
        self._on_invalid = spec.on_invalid
        self._report = report

    def feed(self, lines: list[str]) -> Iterator[list[str]]:
        out: list[str] = []
        work = 0
        for line in lines:
            for value in self._one(line):
                out.append(value)
                work += 1
                if work >= BATCH:
                    yield out
                    out, work = [], 0
            work += 1
        yield out

    def finish(self) -> list[str]:
        return []

    def _one(self, line: str) -> Iterator[str]:
        """The program's outputs for one line, one at a time, or what `on_invalid` says for a
        bad line. Values the program gave before it failed on a line are kept."""
        if not line.strip():
            yield from self._invalid(line, "empty line")
            return
        try:
            yield from self._program.input_text(line)
        except ValueError as exc:
            yield from self._invalid(line, str(exc).splitlines()[0] if str(exc) else "not JSON")

    def _invalid(self, line: str, why: str) -> Iterable[str]:
        if self._on_invalid == "pass":
            return (line,)
        if self._on_invalid == "error":
            shown = line if len(line) <= 200 else line[:197] + "..."
            self._report(f"jq: {why}: {shown}")
        return ()


def make_filter(spec: FilterSpec, report: Report) -> LineFilter:
    """The filter a config entry describes; `report` receives jq's `on_invalid: error` lines."""
    if isinstance(spec, GrepFilter):
        return Grep(spec)
    if isinstance(spec, JqFilter):
        return Jq(spec, report)
    if isinstance(spec, HeadFilter):
        return Head(spec)
    if isinstance(spec, TailFilter):
        return Tail(spec)
    if isinstance(spec, ReplaceFilter):
        return Replace(spec)
    raise TypeError(f"not a filter: {spec!r}")


class FilterChain:
    """The configured filters as one event → events transform on stdout lines."""

    def __init__(self, specs: Sequence[FilterSpec]) -> None:
        self._reports: list[str] = []
        self.filters = [make_filter(s, self._reports.append) for s in specs]
        self._decoder = LineDecoder()
        #: jq takes a document whole, however long its line: it is never cut for jq.
        self._cut = None if any(isinstance(s, JqFilter) for s in specs) else MAX_LINE

    def __call__(self, event: Event) -> list[Event]:
        """`event`'s result all at once (for callers that need no chance to stop)."""
        return [e for e in self.stream(event) if e is not None]

    def stream(self, event: Event) -> Generator[Event | None, None, None]:
        """`event`'s result a step at a time: each output event as soon as it is ready, and
        None after every step of filter work (a batch of lines through one filter).

        Closing the generator abandons the rest of the work (the lines of this event).
        """
        if isinstance(event, Stdout):
            lines = self._decoder.feed(event.data)
            if self._cut is not None:
                lines += self._decoder.cut_long(self._cut)
            yield from self._flow(lines, final=False, finish=False)
        elif isinstance(event, Exit):
            last = self._decoder.feed(b"", final=True)
            yield from self._flow(last, final=bool(last), finish=True)
            yield event
        else:
            yield event

    def _flow(self, lines: list[str], *, final: bool, finish: bool) -> Iterator[Event | None]:
        """`lines` through every filter in order, depth first: a batch a filter lets out goes
        on through the later filters before that filter is asked for more, so no stage piles
        up output. With `finish`, what each filter holds (tail) then goes on the same way.

        `final`: the last line had no newline in the input, so the last line out keeps none.
        """
        starts: list[tuple[int, Callable[[], list[str]]]] = [(0, lambda: lines)]
        if finish:
            starts += [(depth + 1, f.finish) for depth, f in enumerate(self.filters)]
        pending: list[str] = []  # out of the last filter, not yet handed on
        for depth, start in starts:
            stack: list[tuple[int, Iterator[list[str]]]] = [(depth, iter([start()]))]
            while stack:
                depth, batches = stack[-1]
                batch = next(batches, None)
                if batch is None:
                    stack.pop()
                    continue
                if depth == len(self.filters):
                    pending += batch
                elif batch:
                    stack.append((depth + 1, self.filters[depth].feed(batch)))
                ready, pending = (pending[:-1], pending[-1:]) if final else (pending, [])
                yield from self._events(ready, ended=True)
                yield None
        yield from self._events(pending, ended=not final)

    def _events(self, lines: list[str], *, ended: bool) -> Iterator[Event]:
        """The reports so far as Stderr, then `lines` as Stdout (`ended`: the last line too
        gets its newline)."""
        if self._reports:
            text = "".join(r + "\n" for r in self._reports)
            self._reports.clear()
            yield Stderr(text.encode("utf-8"))
        if lines:
            text = "\n".join(lines)
            if ended:
                text += "\n"
            yield Stdout(text.encode("utf-8"))


def apply(transforms: Sequence[Callable[[Event], list[Event]]], event: Event) -> list[Event]:
    """Run one event through a sequence of transforms (each may emit zero or more events)."""
    events = [event]
    for transform in transforms:
        nxt: list[Event] = []
        for e in events:
            nxt.extend(transform(e))
        events = nxt
    return events
