"""While a person is asked something (a protected environment's name, a secret), or a run
is waited for, a kernel interrupt is a KeyboardInterrupt there, as in a plain cell.

In a cell using top-level await, ipykernel turns SIGINT into a cancellation of the cell's
task, which cannot land while the question blocks the loop: the cell waited for an answer,
then went on once one was typed (safety13: a protected run started after ■ was pressed).
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Callable, Iterator
from types import FrameType


@contextlib.contextmanager
def interrupt_raises() -> Iterator[None]:
    """SIGINT raises KeyboardInterrupt in the block (its handler put back after); off the
    main thread, which gets no signals and may not set their handlers, nothing changes."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    before = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, before)


def awaited_cell_interrupts() -> contextlib.AbstractContextManager[None]:
    """`interrupt_raises()` in a notebook cell that uses top-level await, where ipykernel turns
    SIGINT into a cancellation of the cell's coroutine, which a wait blocking the main thread
    never sees (magics19: Interrupt could not stop `%orch` there); nothing elsewhere (a plain
    cell raises already, the CLI keeps its own handler)."""
    if _cancelling(signal.getsignal(signal.SIGINT)):
        return interrupt_raises()
    return contextlib.nullcontext()


def _cancelling(handler: object) -> bool:
    """Whether SIGINT's `handler` is ipykernel's for a cell that uses top-level await (which
    cancels the cell's coroutine), on the main thread (where signals are handled)."""
    return threading.current_thread() is threading.main_thread() and \
        "_cancel_on_sigint" in getattr(handler, "__qualname__", "")


@contextlib.contextmanager
def on_cell_interrupt(act: Callable[[], object]) -> Iterator[None]:
    """In a notebook cell that uses top-level await, `act()` too when SIGINT comes: ipykernel's
    cancellation of the cell waits for the loop's next event, which a silent run awaited
    there never makes (magics19: `await orch.arun(…)` ignored ■ until the command printed)."""
    before = signal.getsignal(signal.SIGINT)
    if not (_cancelling(before) or getattr(before, "orch_cell_interrupt", False)  # two at
            and threading.current_thread() is threading.main_thread()):  # once (review36)
        yield
        return

    def both(signum: int, frame: FrameType | None) -> None:
        act()
        before(signum, frame)  # type: ignore[misc,operator]  # the kernel's, or another's

    both.orch_cell_interrupt = True  # type: ignore[attr-defined]

    signal.signal(signal.SIGINT, both)
    try:
        yield
    finally:
        if signal.getsignal(signal.SIGINT) is both:
            signal.signal(signal.SIGINT, before)
