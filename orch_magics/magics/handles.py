"""Live handles as cell values: what is true now, updated when the run ends, or nothing.

A cell that starts a run in the background already shows it live (output, status, stdin box),
so the handle it returns shows nothing there. Elsewhere (`%orch start`, `%orch status`, `r` in
a later cell) the handle shows its state with the time it was true, and a front end replaces
that line with the final state when the run ends.

`when_done` is the one place that waits for a run's end (an adapter: one thread per run, until
LiveRun offers a done callback).
"""

from __future__ import annotations

import threading
import time
import uuid
import weakref
from collections.abc import Callable
from typing import Any

from IPython.display import display

from ..errors import RunInterrupted
from ..live import LiveRun
from ..result import RunResult
from .frontend import has_frontend_stdin, update_publisher

Ended = Callable[[RunResult | None, BaseException | None], None]


def when_done(live: LiveRun, fn: Ended) -> None:
    """Call `fn(result, None)` (or `fn(None, error)`) on a helper thread when `live` ends."""

    def watch() -> None:
        try:
            result = live.wait()
        except RunInterrupted as exc:
            result = exc.result
        except BaseException as exc:  # the chain broke before a result existed
            fn(None, exc)
            return
        fn(result, None)

    threading.Thread(target=watch, name=f"orch-watch-{live.name or live.plan.name}",
                     daemon=True).start()


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
            when_done(live, lambda _r, _e: publish({"text/plain": describe(live)}))
