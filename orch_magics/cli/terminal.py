"""The user's terminal during a `tty: true` run, as `ssh -t` treats it.

The program has a terminal of its own, which echoes, edits lines and hides passwords: ours goes
raw for the run, so each key goes to it as typed and is not echoed here as well (a password at
a hidden prompt stayed on the screen), Ctrl-C included. It is put back however the run ends.
Its size is ours, and follows ours when the window changes (a pager, `top`, an editor redraw).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import signal
import termios
import tty
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from typing import Protocol

from .._loop import detached
from ..plan import RunPlan


class Resizing(Protocol):
    """A run whose terminal follows the window (`engine.Run`)."""

    async def resize(self, size: tuple[int, int]) -> None: ...


def for_run(plan: RunPlan, reads_stdin: bool, current: Callable[[], Resizing | None]
            ) -> tuple[RunPlan, AbstractContextManager[None]]:
    """For a `tty: true` run on our terminal: the plan with our terminal's size, `current()`
    resized to each new one (SIGWINCH: `ssh -t` passes window changes on), and our terminal
    raw while it runs if the run reads it. Any other run: the plan as it is, nothing to do."""
    fd = next((fd for fd in (0, 1) if os.isatty(fd)), None)  # its output's, stdin not read
    if not plan.command.tty or fd is None:
        return plan, contextlib.nullcontext()
    command = dataclasses.replace(plan.command, size=size(fd))
    return dataclasses.replace(plan, command=command), _following(
        fd, reads_stdin and os.isatty(0), current)


@contextlib.contextmanager
def _following(fd: int, make_raw: bool, current: Callable[[], Resizing | None]
               ) -> Iterator[None]:
    loop = asyncio.get_running_loop()

    def changed() -> None:
        if (now := size(fd)) is not None and (run := current()) is not None:
            detached(run.resize(now))

    loop.add_signal_handler(signal.SIGWINCH, changed)
    try:
        with raw(0) if make_raw else contextlib.nullcontext():
            yield
    finally:
        loop.remove_signal_handler(signal.SIGWINCH)


def size(fd: int) -> tuple[int, int] | None:
    """(columns, rows) of the terminal on `fd`; None when it is none or does not say."""
    try:
        columns, rows = os.get_terminal_size(fd)
    except OSError:
        return None
    return (columns, rows) if columns and rows else None


@contextlib.contextmanager
def raw(fd: int) -> Iterator[None]:
    """The terminal on `fd` raw inside (no echo, no line editing, no signals from keys, no
    output processing), as it was after."""
    before = termios.tcgetattr(fd)
    tty.setraw(fd, termios.TCSADRAIN)
    try:
        yield
    finally:
        with contextlib.suppress(termios.error, OSError):  # a terminal closed meanwhile (hangup)
            termios.tcsetattr(fd, termios.TCSADRAIN, before)
