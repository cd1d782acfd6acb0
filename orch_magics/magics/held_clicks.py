"""Send and EOF clicks of a stdin box, held back a moment for the keys typed before them.

While the kernel is busy, ipywidgets holds a field's later keys and sends them once it is
idle, after the click, which is another widget's message: Send sent the first letter of the
line (and the rest became the next line), and EOF closed stdin without them (browser5). So a
click acts HELD_KEYS later. A cell that starts first acts on them at once: the shell channel
is ordered, so every key sent before its execute request has arrived, and the cell may block
the kernel's loop the timer needs (browser23: EOF, then `r.wait()`, waited for ever).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

#: How long a Send or EOF click waits for keys typed before it (seconds). Half a second
#: was too short for a kernel slowed by a busy thread on a loaded machine (two fresh-clone
#: runs in four: Send sent "h"); Enter, the quick way, never waits.
HELD_KEYS = 1.0

_HELD: list[tuple[asyncio.TimerHandle, Callable[[], None]]] = []


def after_held_keys(action: Callable[[], None]) -> None:
    """Run a click's `action` once keys typed before the click have arrived (HELD_KEYS), or
    when a cell starts, whichever comes first."""
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:  # no loop (a test shell): nothing can be held either
        action()
        return

    def act() -> None:
        _HELD[:] = [held for held in _HELD if held[1] is not act]
        action()

    _HELD.append((loop.call_later(HELD_KEYS, act), act))


def act_on_held_clicks() -> None:
    """A cell starts: the clicks held for keys act now, in the order they came."""
    held, _HELD[:] = list(_HELD), []
    for timer, act in held:
        timer.cancel()
        act()
