"""How a run shows in its cell: one live presenter for front ends, one headless presenter.

- `LivePresenter` (JupyterLab, Notebook, VS Code): one display updated in place, ~10×/s, with
  a bounded tail and a ticking status line (`DisplaySink`).
- `HeadlessPresenter` (nbclient, papermill, terminal IPython): a bounded head and tail of the
  output written as ordinary stdout/stderr (`HeadlessOutput`), then the status line.

Both say how the run ended in words, and show pre/post step output in order.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from typing import Any, Protocol

from IPython.display import display

from ..result import RunResult
from ..shutdown import exiting
from ..sinks.base import Sink
from ..sinks.cell_view import describe_end
from ..sinks.display import DisplaySink
from .frontend import update_publisher
from .headless import HeadlessOutput


class Presenter(Protocol):
    """Shows one run in the cell: `sinks` go to the engine, `poll`/`finish` to the magic."""

    sinks: list[Sink]
    view: DisplaySink

    def poll(self) -> None:
        """Called on the main thread while a blocking cell waits (~10×/s)."""

    def finish(self, result: RunResult | None, failure: str | None = None, *,
               raised: bool = False) -> None:
        """The run ended with `result` (None: it broke before a result existed: `failure`);
        `raised`: the magic raises its error rather than returning the result."""


#: How a live cell ends when the kernel shuts down under its run (which that stops).
KERNEL_GONE = "stopped: the kernel shut down"


def _verdict(result: RunResult | None, failure: str | None) -> tuple[str, bool]:
    if exiting():  # whatever the run's end looks like, the shutdown caused it
        return KERNEL_GONE, False
    return describe_end(result) if failure is None else (f"failed: {failure}", False)


class LivePresenter:
    """A front end's live view: displayed now, updated from the engine's loop until the end."""

    def __init__(self, shell: Any, sink: DisplaySink, loop: asyncio.AbstractEventLoop) -> None:
        self.view = sink
        self.sinks: list[Sink] = [sink]
        display_id = uuid.uuid4().hex
        display(sink.render(), raw=True, display_id=display_id)
        sink.set_publisher(update_publisher(shell, display_id))
        sink.start_clock(loop)

    def poll(self) -> None:
        pass  # the sink publishes by itself

    def finish(self, result: RunResult | None, failure: str | None = None, *,
               raised: bool = False) -> None:
        if result is not None:
            self.view.note_steps(result.steps)
            self.view.note_stdin_total(result.stdin_bytes)
        self.view.finish(*_verdict(result, failure))


#: Where the full output of a headless run is, said in the elision note: by whether the magic
#: raised (the line form returns its result, or moves `_` to it when it raises).
Where = Callable[[bool], str]


class HeadlessPresenter:
    """Without a front end: bounded output as the cell's own stdout/stderr, then the status."""

    def __init__(self, sink: DisplaySink, output: HeadlessOutput, where: Where) -> None:
        self.view = sink
        self.output = output
        self.where = where
        self.sinks: list[Sink] = [sink, output]

    def poll(self) -> None:
        self.output.write_pending()

    def finish(self, result: RunResult | None, failure: str | None = None, *,
               raised: bool = False) -> None:
        if result is not None:
            self.output.note_steps(result.steps)
            self.view.note_stdin_total(result.stdin_bytes)
        self.view.finish(*_verdict(result, failure))
        self.output.finish(self.where(raised))
        display(self.view.render(status_only=True), raw=True)
