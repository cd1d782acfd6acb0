"""Output filters: grep, jq, head, tail, replace on stdout lines, as they stream.

Each configured filter (`config.model.GrepFilter` …) becomes a `LineFilter`: `feed(lines)`
takes the lines one chunk completed and returns what it lets through (zero, one or more per
line), `finish()` what it still holds when the stream ends (tail). Working a chunk's lines at a
time keeps the per-line cost to the filter's own work. `FilterChain` folds them, in the configured order, into one event → events
transform for the runner: Stdout chunks are cut into lines by the one line rule of
`sinks.lines` (a partial last line waits for its end; `ERROR\r\n` is the line `ERROR`), the
lines go through every filter, and what comes out is one Stdout event again, each line ended by
`\n`. Stderr and Exit pass through untouched, so every sink after the chain sees the filtered
stream.

Lines are decoded as UTF-8 (undecodable bytes replaced) only when there are filters: without
filters the runner never builds a chain and bytes pass exactly.
"""

from __future__ import annotations

import collections
import json
import re
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Protocol

from ..config.model import FilterSpec, GrepFilter, HeadFilter, JqFilter, ReplaceFilter, TailFilter
from ..process.events import Event, Exit, Stderr, Stdout
from .lines import LineDecoder

Report = Callable[[str], None]


class LineFilter(Protocol):
    """One filter over lines (without their ending), fed a chunk's lines at a time."""

    def feed(self, lines: list[str]) -> list[str]: ...

    def finish(self) -> list[str]: ...


class Grep:
    """The lines a regular expression finds (or, with `invert`, does not find)."""

    def __init__(self, spec: GrepFilter) -> None:
        flags = re.IGNORECASE if spec.ignore_case else 0
        self._search = re.compile(spec.pattern, flags).search
        self._invert = spec.invert

    def feed(self, lines: list[str]) -> list[str]:
        search, invert = self._search, self._invert
        return [line for line in lines if (search(line) is None) == invert]

    def finish(self) -> list[str]:
        return []


class Replace:
    """Each line with a regular expression's matches replaced (`\\1` refers to groups)."""

    def __init__(self, spec: ReplaceFilter) -> None:
        self._sub = re.compile(spec.pattern).sub
        self._replacement = spec.replacement

    def feed(self, lines: list[str]) -> list[str]:
        sub, replacement = self._sub, self._replacement
        return [sub(replacement, line) for line in lines]

    def finish(self) -> list[str]:
        return []


class Head:
    """The first N lines; the rest is dropped (the process keeps running and is not stopped)."""

    def __init__(self, spec: HeadFilter) -> None:
        self._left = max(spec.lines, 0)

    def feed(self, lines: list[str]) -> list[str]:
        kept = lines[:self._left]
        self._left -= len(kept)
        return kept

    def finish(self) -> list[str]:
        return []


class Tail:
    """The last N lines, released when the stream ends."""

    def __init__(self, spec: TailFilter) -> None:
        self._lines: collections.deque[str] = collections.deque(maxlen=max(spec.lines, 0))

    def feed(self, lines: list[str]) -> list[str]:
        self._lines.extend(lines)
        return []

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
        import jq

        try:
            self._program = jq.compile(spec.query)
        except ValueError as exc:
            from ..errors import ConfigError

            raise ConfigError(f"jq filter {spec.query!r} does not compile: {exc}") from None
        self._on_invalid = spec.on_invalid
        self._raw = spec.raw
        self._report = report

    def feed(self, lines: list[str]) -> list[str]:
        out: list[str] = []
        for line in lines:
            out.extend(self._one(line))
        return out

    def finish(self) -> list[str]:
        return []

    def _one(self, line: str) -> Iterable[str]:
        """The program's outputs for one line, or what `on_invalid` says for a bad line."""
        if not line.strip():
            return self._invalid(line, "empty line")
        try:
            outputs = self._program.input_text(line).all()
        except ValueError as exc:
            return self._invalid(line, str(exc).splitlines()[0] if str(exc) else "not JSON")
        return [self._format(v) for v in outputs]

    def _format(self, value: Any) -> str:
        if self._raw and isinstance(value, str):
            return value
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))

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

    def __call__(self, event: Event) -> list[Event]:
        if isinstance(event, Stdout):
            return self._events(self._run(self._decoder.feed(event.data)), final=False)
        if isinstance(event, Exit):
            last = self._decoder.feed(b"", final=True)
            return [*self._events(self._run(last, finish=True), final=bool(last)), event]
        return [event]

    def _run(self, lines: list[str], finish: bool = False) -> list[str]:
        """`lines` through every filter in order; `finish` also releases what they hold."""
        for f in self.filters:
            lines = f.feed(lines) if lines else []
            if finish:
                lines += f.finish()
        return lines

    def _events(self, lines: list[str], *, final: bool) -> list[Event]:
        """Lines as a Stdout event; a last line that had no newline in the input keeps none."""
        events: list[Event] = []
        if self._reports:
            text = "".join(r + "\n" for r in self._reports)
            self._reports.clear()
            events.append(Stderr(text.encode("utf-8")))
        if lines:
            text = "\n".join(lines)
            if not final:
                text += "\n"
            events.append(Stdout(text.encode("utf-8")))
        return events


def apply(transforms: Sequence[Callable[[Event], list[Event]]], event: Event) -> list[Event]:
    """Run one event through a sequence of transforms (each may emit zero or more events)."""
    events = [event]
    for transform in transforms:
        nxt: list[Event] = []
        for e in events:
            nxt.extend(transform(e))
        events = nxt
    return events
