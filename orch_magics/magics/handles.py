"""Live handles as cell values: what is true now, updated when the run ends, or nothing.

A cell that starts a run in the background already shows it live (output, status, stdin box,
a fleet's table), so the handle it returns shows nothing there; nor does the FleetResult of a
fleet the cell showed live (its table is the live view's end). Elsewhere (`%orch start`,
`%orch status`, `r` in a later cell) a handle shows its state with the time it was true, and
a front end replaces that line with the final state when the run ends.

A handle's end is followed with `when_done`: no thread waits for it. A named run's handle is
one attempt: its display follows the run (lifecycle.Follower) to the attempt running now and
to the run's end, through automatic and manual restarts.
"""

from __future__ import annotations

import time
import uuid
import weakref
from collections.abc import Callable
from typing import Any

from IPython.display import display

from .._loop import detached
from ..fleet import FleetResult, LiveFleet
from ..lifecycle import NamedRun
from ..live import LiveRun
from .frontend import shows_live, update_publisher

Handle = LiveRun | LiveFleet


def describe(live: Handle) -> str:
    """The handle's repr, stamped with the time it was read while the run is not over (an
    attempt waiting to be restarted is not)."""
    text = repr(live)
    if live.done and live.state != "restarting":
        return text
    return f"{text[:-1]} as of {time.strftime('%H:%M:%S')}>"


class _Following:
    """A lifecycle.Follower keeping a named run's handle display on its current attempt, and
    on the last one once the run is over (the attempt alone froze at its own end)."""

    def __init__(self, publish: Callable[[dict[str, str]], None], attempt: NamedRun) -> None:
        self._publish = publish
        self._attempt = attempt

    def attempt_started(self, attempt: NamedRun) -> None:
        self._attempt = attempt
        self._publish({"text/plain": describe(attempt)})
        detached(self._once_running(attempt))

    async def _once_running(self, attempt: NamedRun) -> None:
        """`starting` becomes `running, pid N` (or the attempt's end) as it happens."""
        await attempt.until_started()
        if attempt is self._attempt:
            self._publish({"text/plain": describe(attempt)})

    def noted(self, text: str) -> None:  # a restart due, a stop in the back-off, …
        self._publish({"text/plain": describe(self._attempt)})

    def run_ended(self, last: NamedRun | None) -> None:
        final = last or self._attempt  # its result is handed over a moment after the end
        final.when_done(lambda *_: self._publish({"text/plain": repr(final)}))


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
        if not shows_live(self.shell):
            return
        publish = update_publisher(self.shell, display_id)
        if isinstance(value, NamedRun):
            value.supervisor.follow(_Following(publish, value), value)
        elif not value.done:
            value.when_done(lambda *_: publish({"text/plain": describe(value)}))

    def _result(self, result: FleetResult) -> None:
        shown = self._shown_result
        if shown is not None and shown[0]() is result and shown[1] == self.shell.execution_count:
            return
        display({"text/plain": repr(result), "text/html": result._repr_html_()}, raw=True)
