"""The live display of a run in a notebook cell: a bounded tail plus a status line, batched.

`DisplaySink` is fed on the background loop thread like every sink. It keeps only what the cell
shows (the last `tail` lines, counters), so its cost and memory do not grow with the output; the
whole output is in the RunResult. It publishes through a callable at most every `interval`
seconds (~10 updates/s): the notebook front end passes one that updates a display handle, so
the browser and the server's iopub rate limits (1,000 msg/s, 1 MB/s) are never approached.

Without a publisher (nbclient, terminal IPython) the magic's main thread drains `take_pending()`
instead and writes the text as ordinary stdout/stderr, so an executed notebook keeps it all.
"""

from __future__ import annotations

import asyncio
import collections
import html
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from ..process.events import Event, Exit, Stderr, Stdout
from .lines import LineDecoder, terminal_view
from .units import human_size

Stream = Literal["stdout", "stderr", "stdin"]
Bundle = dict[str, str]

#: Characters of one line shown before it is cut (the result keeps it whole).
MAX_LINE = 2000
#: Characters of an unterminated line kept for the display.
MAX_PARTIAL = 64 * 1024
_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b\][^\x07]*\x07")


@dataclass(frozen=True)
class Snapshot:
    """What the cell shows at one moment (taken under the sink's lock)."""

    lines: list[tuple[Stream, str]]
    hidden: int
    status: str
    done: bool
    ok: bool | None


class DisplaySink:
    """Bounded tail + status of one run, rendered as text/plain and text/html bundles."""

    def __init__(self, *, environment: str, layers: str, what: str, tail: int = 40,
                 stdout_mode: str = "stream", interval: float = 0.1,
                 publish: Callable[[Bundle], None] | None = None,
                 keep_pending: bool = False) -> None:
        self.environment = environment
        self.layers = layers
        self.what = what
        self.tail = max(0, int(tail))
        self.stdout_mode = stdout_mode
        self.interval = interval
        self._publish = publish
        self._keep_pending = keep_pending
        self._lock = threading.Lock()
        self._lines: collections.deque[tuple[Stream, str]] = collections.deque(maxlen=self.tail)
        self._decoders = {"stdout": LineDecoder(MAX_PARTIAL), "stderr": LineDecoder(MAX_PARTIAL)}
        self._pending: list[tuple[Stream, str]] = []
        self.line_counts = {"stdout": 0, "stderr": 0}
        self.byte_counts = {"stdout": 0, "stderr": 0}
        self.stdin_bytes = 0
        self.started = time.monotonic()
        self.ended: float | None = None
        self.exit: Exit | None = None
        self.final: str | None = None  # set by finish(): the run's own verdict
        self._ok: bool | None = None
        self._closed = False
        self._timer: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.updates = 0  # how many times the publisher was called (benchmarks, tests)
        self.last_written = "\n"  # last character a headless front end wrote (see magics)

    def set_publisher(self, publish: Callable[[Bundle], None] | None) -> None:
        """Where rendered bundles go from now on (None: nobody, the caller pulls)."""
        self._publish = publish

    # ---- the Sink protocol (background loop thread) ----------------------------------------
    def feed(self, event: Event) -> None:
        if isinstance(event, Stdout):
            self._add("stdout", event.data)
        elif isinstance(event, Stderr):
            self._add("stderr", event.data)
        elif isinstance(event, Exit):
            with self._lock:
                self.exit = event
        self._schedule()

    def close(self) -> None:
        self._add("stdout", b"", final=True)
        self._add("stderr", b"", final=True)
        with self._lock:
            self._closed = True
            self.ended = self.ended or time.monotonic()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self.flush()

    # ---- from the magic (any thread) ------------------------------------------------------
    def note_stdin(self, line: str) -> None:
        """Show a line the user sent (echoed like a terminal would)."""
        with self._lock:
            self._store("stdin", [line])
            self.stdin_bytes += len(line.encode()) + 1

    def finish(self, verdict: str, ok: bool) -> None:
        """The run's end as the result tells it (timed out, interrupted, exit …); re-render."""
        with self._lock:
            self.final = verdict
            self._ok = ok
            self._closed = True
        self.flush()

    def take_pending(self) -> list[tuple[Stream, str]]:
        """Text received since the last call, in order (only with keep_pending)."""
        with self._lock:
            pending, self._pending = self._pending, []
        return pending

    def flush(self) -> None:
        """Publish the current view now (if there is a publisher)."""
        if self._publish is None:
            return
        bundle = self.render()
        self.updates += 1
        try:
            self._publish(bundle)
        except Exception:  # a dead front end must not break the run
            self._publish = None

    # ---- internals ------------------------------------------------------------------------
    def _add(self, stream: Literal["stdout", "stderr"], data: bytes, final: bool = False) -> None:
        """Count and keep the last `tail` lines of `data` (the one line rule of sinks.lines)."""
        with self._lock:
            self.byte_counts[stream] += len(data)
            text, count, lines = self._decoders[stream].feed_last(data, self.tail, final)
            shown = not (stream == "stdout" and self.stdout_mode in ("capture", "file"))
            if self._keep_pending and shown and text:
                self._pending.append((stream, text))
            self.line_counts[stream] += count
            if shown:
                self._store(stream, lines)

    def _store(self, stream: Stream, lines: list[str]) -> None:
        if not self.tail:
            return
        for line in lines[-self.tail:]:
            self._lines.append((stream, line))

    def _schedule(self) -> None:
        if self._publish is None or self._timer is not None or self._closed:
            return
        loop = asyncio.get_running_loop()
        self._loop = loop
        self._timer = loop.call_later(self.interval, self._tick)

    def _tick(self) -> None:
        self._timer = None
        if self._closed:
            return
        self.flush()
        # keep the elapsed time moving while the process is quiet (1 update/s)
        if self._loop is not None and self._publish is not None:
            self._timer = self._loop.call_later(1.0, self._tick)

    # ---- rendering ------------------------------------------------------------------------
    def snapshot(self) -> Snapshot:
        with self._lock:
            lines = list(self._lines)
            shown_total = sum(self.line_counts[s] for s in ("stdout", "stderr")
                              if not (s == "stdout" and self.stdout_mode in ("capture", "file")))
            stored = sum(1 for s, _ in lines if s != "stdin")
            hidden = max(0, shown_total - stored)
            return Snapshot(lines, hidden, self._status(), self._closed, self._ok)

    def _status(self) -> str:
        elapsed = (self.ended or time.monotonic()) - self.started
        if self.final is not None:
            state = self.final
        elif self.exit is not None:
            state = self.exit.describe()
        else:
            state = "running"
        out, err = self.byte_counts["stdout"], self.byte_counts["stderr"]
        parts = [f"{self.environment} ({self.layers})", self.what, state, f"{elapsed:.1f}s",
                 f"stdout {human_size(out)} / {self.line_counts['stdout']} lines",
                 f"stderr {human_size(err)}"]
        if self.stdout_mode == "file":
            rate = out / elapsed if elapsed > 0 else 0.0
            parts.append(f"to file at {human_size(int(rate))}/s")
        elif self.stdout_mode == "capture":
            parts.append("stdout captured, not shown")
        if self.stdin_bytes:
            parts.append(f"stdin {human_size(self.stdin_bytes)}")
        return " · ".join(parts)

    def render(self) -> Bundle:
        snap = self.snapshot()
        return {"text/plain": render_text(snap), "text/html": render_html(snap)}

    def status_text(self) -> str:
        with self._lock:
            return self._status()


def render_text(snap: Snapshot) -> str:
    out = []
    if snap.hidden:
        out.append(f"… {snap.hidden} earlier lines hidden (all kept in the result)")
    for stream, line in snap.lines:
        line = _clip(terminal_view(_ANSI.sub("", line)))
        out.append({"stdout": "", "stderr": "[stderr] ", "stdin": "› "}[stream] + line)
    out.append(f"[{snap.status}]")
    return "\n".join(out)


_STYLE = {
    "stdout": "",
    "stderr": "background:var(--jp-rendermime-error-background,#fdd);",
    "stdin": "opacity:.65;font-style:italic;",
}


def render_html(snap: Snapshot) -> str:
    rows = []
    if snap.hidden:
        rows.append(f'<span style="opacity:.6">… {snap.hidden} earlier lines hidden '
                    f'(all kept in the result)</span>')
    for stream, line in snap.lines:
        text = html.escape(_clip(terminal_view(_ANSI.sub("", line))))
        if stream == "stdin":
            text = "› " + text
        style = _STYLE[stream]
        rows.append(f'<span class="orch-{stream}" style="{style}">{text}</span>'
                    if style else f'<span class="orch-{stream}">{text}</span>')
    colour = "inherit"
    if snap.ok is True:
        colour = "var(--jp-success-color1,#080)"
    elif snap.ok is False:
        colour = "var(--jp-error-color1,#c00)"
    body = "\n".join(rows)
    pre = (f'<pre class="orch-tail" style="margin:0;padding:0;white-space:pre-wrap">{body}</pre>'
           if rows else "")
    return (f'<div class="orch-run">{pre}'
            f'<div class="orch-status" style="font-family:var(--jp-code-font-family,monospace);'
            f'font-size:85%;margin-top:2px;color:{colour}">{html.escape(snap.status)}</div></div>')


def _clip(line: str) -> str:
    if len(line) <= MAX_LINE:
        return line
    return line[:MAX_LINE] + f" … (+{len(line) - MAX_LINE} chars)"


def describe_end(result: Any) -> tuple[str, bool]:
    """The status word for a finished RunResult (or a failure before it existed)."""
    if result is None:
        return "failed", False
    state = result.exit.describe()
    if result.timed_out:
        state = f"timed out, {state}"
    elif result.interrupted:
        state = f"interrupted, {state}"
    failed_steps = [s for s in result.steps if not s.ok]
    if failed_steps and result.exit.code == 0:
        state += f", {failed_steps[0].step} step failed"
    return state, bool(result.ok)
