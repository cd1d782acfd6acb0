"""Live handles as cell values: what is true now, updated when the run ends, or nothing.

A cell that starts a run in the background already shows it live (output, status, stdin box),
so the handle it returns shows nothing there. Elsewhere (`%orch start`, `%orch status`, `r` in
a later cell) the handle shows its state with the time it was true, and a front end replaces
that line with the final state when the run ends.

A handle's end is followed with `LiveRun.when_done`: no thread waits for it.
"""

from __future__ import annotations

import time
import uuid
import weakref
from typing import Any

from IPython.display import display

from ..live import LiveRun
from .frontend import has_frontend_stdin, update_publisher


def describe(live: LiveRun) -> str:
    """The handle's repr, stamped with the time it was read while the run is not over."""
    text = repr(live)
    if live.done:
        return text
    return f"{text[:-1]} as of {time.strftime('%H:%M:%S')}>"


class HandleDisplay:
    """IPython's display of LiveRun values (registered with the display formatter)."""

    def __init__(self, shell: Any) -> None:
        self.shell = shell
        self._shown_live: weakref.WeakKeyDictionary[LiveRun, int] = weakref.WeakKeyDictionary()

    def shown_live(self, live: LiveRun) -> None:
        """The current cell shows `live` itself: its value adds nothing there."""
        self._shown_live[live] = self.shell.execution_count

    def __call__(self, live: LiveRun) -> None:
        if self._shown_live.get(live) == self.shell.execution_count:
            return
        display_id = uuid.uuid4().hex
        display({"text/plain": describe(live)}, raw=True, display_id=display_id)
        if not live.done and has_frontend_stdin(self.shell):
            publish = update_publisher(self.shell, display_id)
            live.when_done(lambda _r, _e: publish({"text/plain": describe(live)}))
