"""The user's terminal during a `tty: true` run, as `ssh -t` treats it.

The program has a terminal of its own, which echoes, edits lines and hides passwords: ours goes
raw for the run, so each key goes to it as typed and is not echoed here as well (a password at
a hidden prompt stayed on the screen), Ctrl-C included. It is put back however the run ends.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import termios
import tty
from collections.abc import Iterator
from contextlib import AbstractContextManager

from ..plan import RunPlan


def for_run(plan: RunPlan, reads_stdin: bool) -> tuple[RunPlan, AbstractContextManager[None]]:
    """For a `tty: true` run fed from our terminal: the plan with our terminal's size, and our
    terminal raw while it runs. Any other run: the plan as it is, and nothing to do."""
    if not (plan.command.tty and reads_stdin and os.isatty(0)):
        return plan, contextlib.nullcontext()
    command = dataclasses.replace(plan.command, size=size(0))
    return dataclasses.replace(plan, command=command), raw(0)


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
