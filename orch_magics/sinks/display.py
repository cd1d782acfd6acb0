"""The live display of a run in a notebook cell: a bounded tail plus a status line, batched.

`DisplaySink` is fed on the background loop thread like every sink. It keeps only what the cell
shows (the last `tail` lines, counters): the whole output is in the RunResult (its end for a
named run, `result_keeps`). It publishes through a callable at most every `interval` seconds:
a display handle's updates stay far below the iopub rate limits (1,000 msg/s, 1 MB/s).

The clock ticks from the start (`start_clock`), unterminated lines grow, `\r` rewrites in place,
steps show before/after the command, and the status says the outcome in words.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any, Literal

from ..process.events import Event, Exit, Stderr, Stdout
from ..secrets.masking import mask_text
from ..text import human_size, plural
from .base import StepKind
from .cell_view import (
    NOT_STARTED,
    FollowedRun,
    Snapshot,
    Stream,
    outcome_words,
    render_html,
    render_text,
)
from .lines import CR, MAX_PARTIAL, CutLine, LineDecoder
from .secret_prompt import HIDDEN, PromptWatch
from .step_view import StepFeed, StepViews
from .tail import ColouredTail

Bundle = dict[str, str]

#: Seconds between two refreshes while the process is quiet (the clock keeps moving).
QUIET_TICK = 0.5


class DisplaySink:
    """Bounded tail + status of one run, rendered as text/plain and text/html bundles."""

    def __init__(self, *, environment: str, layers: str, what: str, tail: int = 40,
                 stdout_mode: str = "stream", interval: float = 0.1,
                 publish: Callable[[Bundle], None] | None = None,
                 result_keeps: int | None = None) -> None:
        """`result_keeps`: the bytes of each stream the run's RunResult keeps (a named run's
        `capture_limit`; None: all), so the note on hidden lines does not promise them."""
        self.environment, self.layers, self.what = environment, layers, what
        self.result_keeps = result_keeps
        self.tail = max(0, int(tail))
        self.stdout_mode, self.interval, self._publish = stdout_mode, interval, publish
        self._lock = threading.Lock()
        self._publishing = threading.Lock()  # a live update never arrives after the final view
        self._tail = ColouredTail(self.tail)
        self.prompts = PromptWatch()  # heard before filters: what a line typed answers
        self._hearing = False
        self._decoders = {"stdout": LineDecoder(MAX_PARTIAL), "stderr": LineDecoder(MAX_PARTIAL)}
        #: Of each stream's line not ended yet, the start placed among the lines (_place_partials).
        self._placed: dict[Stream, str] = {"stdout": "", "stderr": ""}
        self._start_rows: dict[Stream, tuple[Stream, str]] = {}  # the row of a placed start
        #: With nothing shown (tail 0), lines are counted without decoding: is one still open?
        self._open = {"stdout": False, "stderr": False}
        self._steps = StepViews(self.tail)
        self.line_counts, self.byte_counts = {"stdout": 0, "stderr": 0}, {"stdout": 0, "stderr": 0}
        self.stdin_bytes = 0
        self._stdin_before = 0  # what earlier attempts of a named run took on stdin
        self._run: FollowedRun | None = None  # see follow
        self.started = time.monotonic()
        self.ended: float | None = None
        self.exit: Exit | None = None
        self.final: str | None = None  # set by finish(): the run's own verdict
        self.stopping = False  # Stop was asked for: INT → TERM → KILL may take seconds
        self.restarting = False  # the attempt ended and a restart is due (`note_restarting`)
        self._ok: bool | None = None
        self._closed = False
        self._attempt_closed = False  # the engine closed it: its attempt has ended
        self._timer: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def _over(self) -> bool:
        """Once its attempt ended and its verdict is shown, a named run's later attempts go to
        its log and `%orch logs`, not here under the first one's verdict (magics2 tester)."""
        return self._attempt_closed and self.final is not None

    def set_publisher(self, publish: Callable[[Bundle], None] | None) -> None:
        """Where rendered bundles go from now on (None: nobody, the caller pulls)."""
        self._publish = publish

    # ---- the Sink protocol (background loop thread) ----------------------------------------
    def feed(self, event: Event) -> None:
        if self._over():
            return
        if not self._hearing:
            self._heard(event)
        if isinstance(event, Stdout):
            self._add("stdout", event.data)
        elif isinstance(event, Stderr):
            self._add("stderr", event.data)
        elif isinstance(event, Exit):
            with self._lock:
                self.exit = event
        self._schedule()

    def close(self) -> None:
        if self._over():
            return
        with self._lock:
            for stream in ("stdout", "stderr"):
                self._lines_of(stream, b"", final=True)  # type: ignore[arg-type]
            self._closed = True
            self._attempt_closed = True
            self.ended = self.ended or time.monotonic()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self.flush()

    def step_started(self, kind: StepKind, label: str) -> None:
        """A pre or post command starts: the status says so, its lines show as they come."""
        with self._lock:
            self._steps.started(kind)
        self._schedule()

    def for_steps(self) -> StepFeed:
        """The running step's sink: its output shows before/after the command's own."""
        return self._steps.feed(self._lock, self._schedule)

    def step_finished(self, kind: StepKind, label: str, result: Any) -> None:
        with self._lock:
            self._steps.finished(kind, result)
        self._schedule()

    # ---- from the magic (any thread) ------------------------------------------------------
    def start_clock(self, loop: asyncio.AbstractEventLoop) -> None:
        """Refresh on `loop` from now on, so the elapsed time moves before the first byte."""
        loop.call_soon_threadsafe(self._schedule)

    def note_steps(self, steps: Any) -> None:
        """Show the output of these step results (pre/post) unless already shown."""
        with self._lock:
            self._steps.add_results(steps)

    def note_stdin_total(self, sent: int) -> None:
        """The bytes the process got on stdin in all (the body, the box, `send` from code),
        once the run is over: the status says those, not the box's count (browser6), which
        may hold a line the process never took (it had closed its stdin: notebook6)."""
        with self._lock:  # browser15: after restarts, the last attempt's alone was said
            self.stdin_bytes = self._stdin_before + sent

    def hear(self, event: Event) -> None:
        """Output as the program wrote it, before filters and a stdout file: what it asks
        (a view fed by no pipeline hears what it is fed)."""
        self._hearing = True
        self._heard(event)

    def _heard(self, event: Event) -> None:
        if isinstance(event, (Stdout, Stderr)):
            with self._lock:
                self.prompts.heard("stdout" if isinstance(event, Stdout) else "stderr",
                                   event.data)

    def note_stdin(self, *lines: str, echo: bool = True) -> None:
        """Count lines the user sent at once and, with `echo`, show them below the prompt
        that asked for them (a terminal's own echo shows them, or hides them, on a tty run:
        no `echo`); after a prompt for a secret (`secret_prompt.PromptWatch`), as dots."""
        with self._lock:
            asking = self.prompts.asking()
            if self.tail and echo:
                self._place_partials(but=None)
                self._tail.add("stdin", [HIDDEN if asking else mask_text(line) for line in lines])
            self.prompts.answered(asking)
            self.stdin_bytes += sum(len(line.encode()) + 1 for line in lines)

    def note_unsent(self, lines: Sequence[str], why: str) -> None:
        """Lines `note_stdin` counted (and showed) that could not be sent after all: uncounted,
        and said below their echo, so a saved notebook does not read as if they went."""
        with self._lock:
            sent = sum(len(line.encode()) + 1 for line in lines)
            self.stdin_bytes = max(0, self.stdin_bytes - sent)
        self.note(f"not sent: {why}")

    def note(self, text: str) -> None:
        """orch's own line among the output (how a named run's attempt ended, its restart);
        from any thread."""
        with self._lock:
            if self.tail:
                self._place_partials(but=None)
                self._tail.add("note", [mask_text(text)])
        self.flush()

    def next_attempt(self, stdin_before: int = 0) -> None:
        """A named run's next attempt shows here too (a restart): running again, its exit
        and verdict to come; the lines and counts go on (`stdin_before`: what the attempts
        before it took on stdin, which `note_stdin_total` of the last one adds to). On the
        loop thread."""
        with self._lock:
            self._stdin_before = stdin_before
            self._steps.running = None  # a step that never started ran no more (review30)
            self.exit = self.final = self._ok = self.ended = None
            self._closed = self._attempt_closed = self.stopping = self.restarting = False
        self._schedule()

    def note_restarting(self) -> None:
        """The attempt ended and a restart is due: `exit 3, restarting`, the clock going on
        until the next attempt (browser21: the last exit, its clock stopped, for the back-off)."""
        with self._lock:
            self.restarting, self.ended, self._closed = True, None, False
        self._schedule()

    def note_stopping(self) -> None:
        """Stop was asked for: say `stopping…` until the end (a process ignoring INT and TERM
        runs on for seconds before the KILL)."""
        with self._lock:
            self.stopping = True
        self.flush(live=True)

    def finish(self, verdict: str, ok: bool) -> None:
        """The run's end as the result tells it (timed out, interrupted, exit …); re-render."""
        with self._lock:
            self.final = verdict
            self._ok, self._steps.running = ok, None
            self._closed = True
        self.flush()

    def flush(self, *, live: bool = False) -> None:
        """Publish the current view now (if there is a publisher); a `live` update is dropped
        once the run has been closed (the final view has been or is being sent)."""
        with self._publishing:
            if self._publish is None or live and self._closed:
                return
            bundle = self.render()
            try:
                self._publish(bundle)
            except Exception:  # a dead front end must not break the run
                self._publish = None

    # ---- internals ------------------------------------------------------------------------
    def _add(self, stream: Literal["stdout", "stderr"], data: bytes) -> None:
        with self._lock:
            self.byte_counts[stream] += len(data)
            self._lines_of(stream, data)

    def _lines_of(self, stream: Literal["stdout", "stderr"], data: bytes,
                  final: bool = False) -> None:
        """Count the lines `data` ends and keep the last `tail` of them (sinks.lines' rule)."""
        if not self.tail:  # nothing shown: count lines, decode nothing
            if final:
                self.line_counts[stream] += self._open[stream]
                self._open[stream] = False
            elif data:
                self.line_counts[stream] += data.count(b"\n")
                self._open[stream] = not data.endswith(b"\n")
            return
        if b"\n" in data or final:  # the other stream's line not ended came first
            self._place_partials(but=stream)
        count = self._tail.feed(stream, self._decoders[stream], data, final,
                                keep=self._shown(stream))
        self.line_counts[stream] += count
        if count and (placed := self._placed[stream]):
            self._placed[stream] = ""
            self._unplace(stream, placed, count)

    def _shown(self, stream: Stream) -> bool:
        return self.tail > 0 and not (stream == "stdout"
                                      and self.stdout_mode in ("capture", "file"))

    def _place_partials(self, but: Stream | None) -> None:
        """Put the lines not ended yet (but `but`'s) among the lines now, as far as they
        came, so what comes after shows below them: a prompt above the answer typed to it.
        Not a line a `\r` redraws (a progress bar): each state of it would stay as a row."""
        for stream in ("stdout", "stderr"):
            partial, placed = self._decoders[stream].partial, self._placed[stream]
            if (stream != but and self._shown(stream) and len(partial) > len(placed)
                    and partial.startswith(placed) and CR not in partial
                    and not isinstance(partial, CutLine)):
                self._tail.add(stream, [partial[len(placed):]])
                if not placed:  # the row that shows the line's start
                    self._start_rows[stream] = self._tail.lines[-1]
                self._placed[stream] = partial

    def _unplace(self, stream: Stream, placed: str, count: int) -> None:
        """The line whose start was placed has ended (the first of `count` just added): it
        keeps only the rest, as the start already shows."""
        lines = self._tail.lines
        start = self._start_rows.pop(stream, None)
        if count > len(lines) or not any(row is start for row in lines):
            return  # its start scrolled out: the line shows whole
        at = len(lines) - count
        kind, line = lines[at]
        if kind == stream and line.startswith(placed) and not isinstance(line, CutLine):
            if line == placed:
                del lines[at]
            else:
                lines[at] = (stream, line[len(placed):])

    def _schedule(self) -> None:
        """A refresh `interval` s from now, replacing a later quiet one (magics25: 0.5 s)."""
        if self._publish is None or self._closed:
            return
        loop = self._loop = asyncio.get_running_loop()
        if self._timer is None or self._timer.when() > loop.time() + self.interval:
            if self._timer is not None:
                self._timer.cancel()
            self._timer = loop.call_later(self.interval, self._tick)

    def _tick(self) -> None:
        self._timer = None
        if self._closed:
            return
        self.flush(live=True)
        # keep the elapsed time moving while the process is quiet
        if self._loop is not None and self._publish is not None:
            self._timer = self._loop.call_later(max(self.interval, QUIET_TICK), self._tick)

    # ---- rendering ------------------------------------------------------------------------
    def snapshot(self) -> Snapshot:
        with self._lock:
            lines = list(self._tail.lines)
            for stream in ("stdout", "stderr"):
                partial = self._decoders[stream].partial  # a `\r` at its end shows as none
                placed = self._placed[stream]
                if placed and partial.startswith(placed):  # (a CutLine is never placed)
                    partial = partial[len(placed):]
                if partial and self._shown(stream):
                    lines.append((stream, partial))
            hidden = self._tail.dropped if self.tail else self.line_counts["stderr"] + (
                0 if self.stdout_mode in ("capture", "file") else self.line_counts["stdout"])
            return Snapshot(lines, hidden, self._steps.kinds["pre"].shown(),
                            self._steps.kinds["post"].shown(),
                            self._status(), self._closed, self._ok, self._kept(),
                            self._tail.colours())

    def _kept(self) -> str:
        """Where the lines the cell does not show are (under the lock)."""
        limit = self.result_keeps
        if limit is None or max(self.byte_counts.values()) <= limit:
            return "all kept in the result"
        return f"the result keeps the last {human_size(limit)} of each stream"

    def _status(self) -> str:
        elapsed = (self.ended or time.monotonic()) - self.started
        step = f"{self._steps.running} command running" if self._steps.running else None
        if self.final is not None:
            state = outcome_words(self.final, self._ok)
        elif self.exit is not None:  # a post command after it: not the end yet (magics14)
            state = self.exit.describe() + (f", {step}" if step else "") + (
                ", restarting" if self.restarting else "")
        else:
            state = "stopping…" if self.stopping else step or ("starting" if (
                self._run is not None and self._run.state == "starting") else "running")
        out, err = self.byte_counts["stdout"], self.byte_counts["stderr"]
        parts = [f"{self.environment} ({self.layers})", mask_text(self.what), state, f"{elapsed:.1f}s",
                 f"stdout {human_size(out)} / {plural(self.line_counts['stdout'], 'line')}",
                 f"stderr {human_size(err)}"]
        progress = self._run.progress if self.stdout_mode == "file" and self._run else None
        if progress is not None:  # stdout goes to the file only: its numbers are the file's
            kept = progress.partial_path or progress.path  # a failed run's: set aside
            parts[-2] = (f"stdout {human_size(progress.bytes)} → {mask_text(kept)} "
                         f"at {human_size(int(progress.rate))}/s")
        elif self.stdout_mode == "file":
            parts.append("stdout to a file")
        elif self.stdout_mode == "capture":
            parts.append("stdout captured, not shown")
        # what the process took so far (browser16: a cell body's bytes came only at the end)
        if stdin := max(self.stdin_bytes, self._stdin_before + (self._run.stdin_bytes if (
                self._run is not None and self.exit is None) else 0)):
            parts.append(f"stdin {human_size(stdin)}")
        return " · ".join(parts)

    def starting(self) -> None:
        """Its run is being started: the status says `starting` until `follow` hands it over."""
        self._run = NOT_STARTED

    def follow(self, run: FollowedRun) -> None:
        """The status says `starting` until `run`'s process is there (browser14: a hop still
        connecting read `running · 20s · 0 B`, where `ps` said starting); in stdout_mode
        file it shows the file's bytes, path and rate (`run.progress`, there once its main
        command's file is open)."""
        self._run = run

    def render(self, *, status_only: bool = False) -> Bundle:
        """text/plain + text/html of the current view (`status_only`: just the status line)."""
        snap = self.snapshot()
        if status_only:
            snap = replace(snap, lines=[], hidden=0, before=[], after=[])
        return {"text/plain": render_text(snap), "text/html": render_html(snap)}
