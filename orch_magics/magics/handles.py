"""Live handles as cell values: what is true now, updated when the run ends, or nothing.

A cell that starts a run in the background already shows it live (output, status, stdin box,
a fleet's table), so the handle it returns shows nothing there; nor does the FleetResult of a
fleet the cell showed live (its table is the live view's end). Elsewhere (`%orch start`,
`%orch status`, `r` in a later cell) a handle shows its state with the time it was true, and
a front end replaces that line with the final state when the run ends.

A handle's end is followed with `when_done`: no thread waits for it.
"""

from __future__ import annotations

import time
import uuid
import weakref
from typing import Any

from IPython.display import display

from ..fleet import FleetResult, LiveFleet
from ..live import LiveRun
from .frontend import shows_live, update_publisher

Handle = LiveRun | LiveFleet


def describe(live: Handle) -> str:
    """The handle's repr, stamped with the time it was read while the run is not over."""
    text = repr(live)
    if live.done:
        return text
    return f"{text[:-1]} as of {time.strftime('%H:%M:%S')}>"


class HandleDisplay:
    """IPython's display of LiveRun, LiveFleet and FleetResult values (registered with the
    display formatter)."""

    def __init__(self, shell: Any) -> None:
        self.shell = shell
        self._shown_live: weakref.WeakKeyDictionary[Handle, int] = weakref.WeakKeyDictionary()
        self._shown_result: tuple[weakref.ref[FleetResult], int] | None = None

    def shown_live(self, value: Handle | FleetResult) -> None:
        """The current cell shows `value` itself: as its value, it adds nothing there."""
        if isinstance(value, FleetResult):  # a Mapping: not hashable
            self._shown_result = (weakref.ref(value), self.shell.execution_count)
        else:
            self._shown_live[value] = self.shell.execution_count

    def __call__(self, value: Handle | FleetResult) -> None:
        if isinstance(value, FleetResult):
            self._result(value)
            return
        if self._shown_live.get(value) == self.shell.execution_count:
            return
        display_id = uuid.uuid4().hex
        display({"text/plain": describe(value)}, raw=True, display_id=display_id)
        if not value.done and shows_live(self.shell):
            publish = update_publisher(self.shell, display_id)
            value.when_done(lambda *_: publish({"text/plain": describe(value)}))

    def _result(self, result: FleetResult) -> None:
        shown = self._shown_result
        if shown is not None and shown[0]() is result and shown[1] == self.shell.execution_count:
            return
        display({"text/plain": repr(result), "text/html": result._repr_html_()}, raw=True)
