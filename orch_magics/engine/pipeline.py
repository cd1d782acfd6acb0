"""The output path of one command: mask secrets → tee raw stdout → filters → mask → sinks.

Each step is a pure event → events transform, wrapping the stream the way Starlette's GZip
middleware wraps `send`, so every sink (capture, display, ring buffer, log file, output file)
only ever sees masked, filtered output. What filters make is masked again: they can rebuild a
secret from a form the first masker cannot know (jq decodes a JSON escape of any
character; `replace` rewrites text). Without secrets and filters no transform is built and bytes
pass exactly; without a capture nothing is copied for a RunResult.

Filters are the one step whose work has no bound (a jq program can print for ever from one
line), so `feed` is a coroutine: it lets the event loop run every `SLICE` seconds of filter
work, and once the run is stopping it abandons filter work that has gone on for `CUT_AFTER`,
saying so on stderr. The stop signal, the deadline and the stop ladder so always get through.
A `Paced` sink (the CLI's stdout) is waited for while it is behind, until the run is stopping.
A sink that raises is told no more of the run (a warning says so; `SinkGuard`), and the run
goes on: the caller's callback must not end the command half-way or lose its captured output.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ..plan import RunPlan
from ..process.events import Event, Exit, Stderr, Stdout
from ..secrets.masking import REGISTRY, get_logger
from ..sinks.base import FileTap, Hears, Paced, Sink, file_taps, paced
from ..sinks.buffer import OutputBuffer
from ..sinks.capture import Capture
from ..sinks.file import FileSink, per_target, render_path
from ..sinks.filters import FilterChain, apply
from .steering import Steering

Transform = Callable[[Event], list[Event]]

#: Longest stretch of filter work (seconds) before the event loop gets a turn.
SLICE = 0.02
#: How long one event's filter work may still go on once the run is stopping (seconds).
CUT_AFTER = 0.5
CUT_SHORT = b"orch: output filters cut short: the run is stopping and they were still working\n"


class SinkGuard:
    """The sinks of one run that raised, told no more of it: not by the next step's pipeline,
    not of a step's start or end (the caller's callback must not end the command half-way,
    nor lose the output captured for it)."""

    def __init__(self) -> None:
        self._broken: set[int] = set()

    def live(self, sinks: Sequence[Sink]) -> list[Sink]:
        return [sink for sink in sinks if id(sink) not in self._broken]

    def failed(self, sink: Sink, exc: Exception) -> None:
        self._broken.add(id(sink))
        get_logger(__name__).warning("a sink of this run raised %s: %s; it gets no more of "
                                     "the run (the result keeps all of its output)",
                                     type(exc).__name__, exc)

    def close(self, sinks: Sequence[Sink]) -> None:
        """Close every sink (those that raised too: they may hold files); one whose close
        raises is named in a warning, as one whose feed raised, and the others still close."""
        for sink in sinks:
            try:
                sink.close()
            except Exception as exc:
                get_logger(__name__).warning("a sink of this run raised %s on close: %s",
                                             type(exc).__name__, exc)


class OutputPipeline:
    """Routes one command's events through its transforms into its sinks.

    `main=True` is the service's command: the plan's filters and stdout_mode apply to it;
    pre/post steps are only masked (`raw_stdout`: stdout is not). Building it compiles jq programs, so a bad filter fails
    before anything is launched.
    """

    def __init__(self, plan: RunPlan, sinks: Sequence[Sink], *, main: bool,
                 capture: Capture | None, raw_stdout: bool = False,
                 target: str | None = None, guard: SinkGuard | None = None,
                 kept: Mapping[str, str] | None = None) -> None:
        self.capture = capture
        self.guard = guard or SinkGuard()
        self.raw_stdout: OutputBuffer | None = None
        self.file: FileSink | None = None
        self.sinks: list[Sink] = [*([capture] if capture is not None else []),
                                  *self.guard.live(sinks)]
        self.paced = paced(self.sinks)
        self.ears = [sink for sink in self.sinks if isinstance(sink, Hears)]
        self.transforms: list[Transform] = []
        self.chain: FilterChain | None = None
        self.remask: Transform | None = None
        masker = REGISTRY.stream_masker()
        self.transforms.append(_stderr_only(masker) if raw_stdout else masker)
        if main and plan.filters:
            self.raw_stdout = OutputBuffer()
            self.transforms.append(_tee_stdout(self.raw_stdout))
            self.chain = FilterChain(plan.filters)
            self.remask = REGISTRY.stream_masker()
        if main and plan.stdout_mode == "file":
            self.file = FileSink(stdout_path(plan, target), kept,
                                 unique="{timestamp}" in stdout_template(plan))
        self.taps: list[FileTap] = file_taps(self.sinks) if self.file is not None else []

    async def feed(self, event: Event, steering: Steering) -> None:
        """Deliver `event` (masked, filtered) to the sinks, then wait for a paced sink that is
        behind (until `steering` says the run is stopping)."""
        outs = apply(self.transforms, event) if self.transforms else (event,)
        for out in outs:
            for ear in self.ears:
                try:
                    ear.hear(out)
                except Exception as exc:
                    self._broken(ear, exc)
            if self.chain is None:
                self._deliver(out)
            else:
                await self._filter(self.chain, out, steering)
        await self._paced(steering)

    async def _paced(self, steering: Steering) -> None:
        """Wait until no paced sink is behind, or the run is stopping, whichever comes first."""
        behind = [sink for sink in self.paced if sink.behind()]
        if not behind or steering.stopping():
            return
        waits: list[asyncio.Future[Any]] = [asyncio.ensure_future(_drained(behind)),
                                            asyncio.ensure_future(steering.wait())]
        try:
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiting in waits:
                waiting.cancel()

    async def _filter(self, chain: FilterChain, event: Event, steering: Steering) -> None:
        """`event` through the filters, delivering output as it comes and yielding to the loop
        (and to a paced sink that fell behind)."""
        work = chain.stream(event)
        started = turn = time.monotonic()
        for out in work:
            if out is not None:
                self._remasked(out)
                continue
            if time.monotonic() - turn < SLICE:
                continue
            await asyncio.sleep(0)
            await self._paced(steering)
            turn = time.monotonic()
            if steering.stopping() and turn - started >= CUT_AFTER:
                work.close()
                self._remasked(Stderr(CUT_SHORT))
                if isinstance(event, Exit):
                    self._remasked(event)
                return

    def _remasked(self, out: Event) -> None:
        """A filter's output event, masked again, to the sinks."""
        for masked in (self.remask(out) if self.remask is not None else (out,)):
            self._deliver(masked)

    def _deliver(self, out: Event) -> None:
        if self.file is not None and type(out) is Stdout:
            took = self.file.feed(out)  # all of it, but when the disk filled up
            if took:
                kept = out if took is out.data else Stdout(took)
                for tap in self.taps:
                    try:
                        tap.file_output(kept)
                    except Exception as exc:
                        self._broken(tap, exc)
            return
        for sink in self.sinks:
            try:
                sink.feed(out)
            except Exception as exc:
                if sink is self.capture:  # the result itself: the run cannot go on without it
                    raise
                self._broken(sink, exc)

    def _broken(self, sink: Sink, exc: Exception) -> None:
        """Tell `sink` no more of this run (the loop over the old list goes on)."""
        self.sinks = [s for s in self.sinks if s is not sink]
        self.paced = [s for s in self.paced if s is not sink]
        self.taps = [s for s in self.taps if s is not sink]
        self.ears = [s for s in self.ears if s is not sink]
        self.guard.failed(sink, exc)

    def finish(self, ok: bool) -> str | None:
        """Settle the output file (kept only when the command succeeded): its path or None."""
        if self.file is None:
            return None
        return self.file.finish(ok)

    def partial_file(self) -> str | None:
        """Where a failed command's output file was set aside (`NAME.partial`), once settled."""
        return None if self.file is None else self.file.progress.partial_path

    def discard(self) -> None:
        """Nothing was launched: leave no output file behind."""
        if self.file is not None:
            self.file.discard()

    def buffers(self) -> tuple[OutputBuffer, OutputBuffer]:
        """The captured stdout and stderr (empty buffers when nothing is captured), sealed:
        the streams have ended, so a spilled buffer frees its write block."""
        if self.raw_stdout is not None:
            self.raw_stdout.seal()
        if self.capture is None:
            return OutputBuffer(), OutputBuffer()
        self.capture.close()
        return self.capture.stdout, self.capture.stderr


async def _drained(sinks: Sequence[Paced]) -> None:
    for sink in sinks:
        await sink.drain()


def _tee_stdout(buffer: OutputBuffer) -> Transform:
    """Keep a copy of stdout as it is before the filters (already masked)."""

    def tee(event: Event) -> list[Event]:
        if type(event) is Stdout:
            buffer.write(event.data)
        return [event]

    return tee


def _stderr_only(mask: Transform) -> Transform:
    """Mask every event but stdout (copied files pass unchanged)."""

    def transform(event: Event) -> list[Event]:
        return [event] if type(event) is Stdout else mask(event)

    return transform


def stdout_template(plan: RunPlan) -> str:
    """A file-mode run's stdout_file as written (default `{service}-{timestamp}.out`)."""
    return (plan.service.stdout_file if plan.service else None) or "{service}-{timestamp}.out"


def stdout_path(plan: RunPlan, target: str | None = None) -> str:
    """Where a file-mode run's stdout goes (a fleet `target`'s: in a folder of its label)."""
    path = render_path(stdout_template(plan), service=plan.name, env=plan.environment.name)
    return path if target is None else per_target(path, target)
