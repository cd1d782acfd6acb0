"""While a person is asked something (a protected environment's name, a secret), or a run
is waited for, a kernel interrupt is a KeyboardInterrupt there, as in a plain cell.

In a cell using top-level await, ipykernel turns SIGINT into a cancellation of the cell's
task, which cannot land while the question blocks the loop: the cell waited for an answer,
then went on once one was typed (safety13: a protected run started after ■ was pressed).
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import threading
from collections.abc import Callable, Iterator
from types import FrameType
from typing import TypeVar

T = TypeVar("T")


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
    cancels the cell's coroutine), or ours chained before it, on the main thread (where
    signals are handled)."""
    return threading.current_thread() is threading.main_thread() and (
        "_cancel_on_sigint" in getattr(handler, "__qualname__", "")
        or isinstance(getattr(handler, "__self__", None), _Chain))


class _Chain:
    """SIGINT's handler while runs are awaited in a cell that uses top-level await: it calls
    each awaited run's stop, then the kernel's handler it replaced. One for all the runs
    awaited at once, put back when the last of them ends, in whatever order they end
    (review37: two `arun`s ending in the order they began left theirs installed, and a
    blocking run after them in the cell ignored Interrupt)."""

    def __init__(self, kernels: Callable[[int, FrameType | None], object]) -> None:
        self.kernels = kernels
        self.acts: dict[object, Callable[[], object]] = {}
        self.handler = self._handle  # one bound method: what getsignal() gives back

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        for act in list(self.acts.values()):
            act()
        self.kernels(signum, frame)


@contextlib.contextmanager
def on_cell_interrupt(act: Callable[[], object]) -> Iterator[None]:
    """In a notebook cell that uses top-level await, `act()` too when SIGINT comes: ipykernel's
    cancellation of the cell waits for the loop's next event, which a silent run awaited
    there never makes (magics19: `await orch.arun(…)` ignored ■ until the command printed)."""
    current = signal.getsignal(signal.SIGINT)
    if not _cancelling(current):
        yield
        return
    chain = getattr(current, "__self__", None)
    if not isinstance(chain, _Chain):
        chain = _Chain(current)  # type: ignore[arg-type]  # the kernel's, a callable
        signal.signal(signal.SIGINT, chain.handler)
    key = object()
    chain.acts[key] = act
    try:
        yield
    finally:
        del chain.acts[key]
        if not chain.acts and signal.getsignal(signal.SIGINT) is chain.handler:
            signal.signal(signal.SIGINT, chain.kernels)  # type: ignore[arg-type]


async def awaited_run(task: asyncio.Future[T], stop: Callable[[], object],
                      interrupted: Callable[[T], BaseException]) -> T:
    """`task`'s result (a run's or a fleet's), awaited where a cancellation stops it and waits
    for its end; a cancellation that ■ in a notebook cell made (`on_cell_interrupt`) raises
    `interrupted(result)`, a CancelledError of ours that says it in one line and keeps the
    result (magics20: a bare CancelledError and its traceback, the output lost)."""
    loop, came = asyncio.get_running_loop(), []

    def on_interrupt() -> None:
        came.append(True)
        loop.call_soon_threadsafe(stop)
    try:
        with on_cell_interrupt(on_interrupt):
            return await asyncio.shield(task)
    except asyncio.CancelledError:
        stop()
        result = await task
        if came:
            raise interrupted(result) from None
        raise
