"""How `orch` stops on a signal: Ctrl-C (INT), a polite kill (TERM) and a closed terminal (HUP)
all stop what is running cleanly, so no process is left at the far end and no partial file
here. HUP is left alone when it was ignored at start (`nohup orch …`).

Outside the event loop (config loading, a confirmation prompt, `orch cp`, `orch forward`) TERM
and HUP raise `Stopped`, a KeyboardInterrupt, and take Ctrl-C's path; on the loop of a run,
`on_interrupt` stops the run with the ladder (INT → TERM → KILL) and a second signal kills it.
Either way `orch` then exits with 128 + the first signal it got (130, 143, 129), as a shell
reports a job that signal ended: a supervisor that sent TERM sees 143, not Ctrl-C's 130.
While the loop is being set up, `held` keeps the signals pending (a KeyboardInterrupt inside
asyncio's set-up broke it with a traceback); `on_interrupt` lets them through.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Callable, Iterator
from types import FrameType
from typing import Protocol

from .._loop import detached


class Stopped(KeyboardInterrupt):
    """TERM or HUP arrived: handled as Ctrl-C is; the command exits with 128 + `signum`."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def exit_status(interrupt: KeyboardInterrupt) -> int:
    """128 + the signal that interrupted (SIGINT for Ctrl-C), as a shell reports it; one at
    a secret's prompt says the signal it was too (chains24: TERM there exited 130)."""
    return 128 + (getattr(interrupt, "signum", None) or signal.SIGINT)


def stop_signals() -> list[signal.Signals]:
    """The signals that stop a command: INT and TERM, and HUP unless it is ignored (nohup)."""
    signals = [signal.SIGINT, signal.SIGTERM]
    if signal.getsignal(signal.SIGHUP) is not signal.SIG_IGN:
        signals.append(signal.SIGHUP)
    return signals


def _raise_stopped(signum: int, frame: FrameType | None) -> None:
    raise Stopped(signum)


@contextlib.contextmanager
def raising_on_stop_signals() -> Iterator[None]:
    """Inside, TERM and HUP raise `Stopped` in the main thread, as Ctrl-C raises
    KeyboardInterrupt (the default for both would end the process with no clean-up). A
    handler set inside stays (a command told to end ignores later signals until it exits)."""

    before = {sig: signal.signal(sig, _raise_stopped) for sig in stop_signals()
              if sig != signal.SIGINT}
    try:
        yield
    finally:
        for sig, handler in before.items():
            # None: set outside Python, cannot be put back
            if handler is not None and signal.getsignal(sig) is _raise_stopped:
                signal.signal(sig, handler)


@contextlib.contextmanager
def held() -> Iterator[None]:
    """Keep the stop signals pending inside (until `on_interrupt` handles them on the loop)."""
    before = signal.pthread_sigmask(signal.SIG_BLOCK, stop_signals())
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, before)


class Stoppable(Protocol):
    """A run, or a fleet of them: stopped with the ladder, or killed at once."""

    def stop(self) -> None: ...

    async def kill(self) -> None: ...


class Interrupts:
    """The stop signals a run got: the first one decides how `orch` exits."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self.first: signal.Signals | None = None
        #: Set by the first stop signal: output still waiting for its reader is then given up.
        self.arrived = asyncio.Event()

    def settled(self) -> None:
        """The run is over: from now on a stop signal raises (KeyboardInterrupt, `Stopped`) in
        the main thread, as outside the loop, so printing the result to a reader that does
        not read (a blocking write on the loop) still ends at Ctrl-C or TERM. After a first
        signal, any later one raises as that first one (`orch` exits with 128 + the first)."""
        first = self.first

        def raise_first(signum: int, frame: FrameType | None) -> None:
            raise Stopped(first or signum)

        for sig in stop_signals():
            self._loop.remove_signal_handler(sig)
            if first is not None:
                signal.signal(sig, raise_first)
            elif sig != signal.SIGINT:  # SIGINT is back at Python's KeyboardInterrupt
                signal.signal(sig, _raise_stopped)

    def over(self) -> None:
        """The run is over and its output written. Once a signal decided the exit status,
        later ones are ignored from here to the exit: the loop's teardown and Python's own
        let one through (a second Ctrl-C as orch left made it die of SIGINT, status -2 to
        its caller, or print a traceback)."""
        if self.first is not None:
            for sig in stop_signals():
                self._loop.remove_signal_handler(sig)
                signal.signal(sig, signal.SIG_IGN)

    def exit_status(self, status: int) -> int:
        """128 + the first signal once one stopped the run (in any step, whatever the command
        made of the INT it was sent), else the run's own `status`."""
        return status if self.first is None else 128 + self.first


def on_interrupt(current: Callable[[], Stoppable | None]) -> Interrupts:
    """On this loop, the first stop signal stops `current()` (INT → TERM → KILL), the next
    kills it at once. Set up before the run begins: starting it may import a layer's SDK for
    a while, and a signal in that time is handled as soon as it has begun."""
    loop = asyncio.get_running_loop()
    interrupts = Interrupts(loop)

    def on_signal(sig: signal.Signals) -> None:
        run = current()
        if run is None:  # it was refused before it began: nothing to stop
            return
        if interrupts.first is None:
            interrupts.first = sig
            interrupts.arrived.set()
            run.stop()
        elif sig == signal.SIGHUP:  # a hung-up terminal is said more than once (the kernel,
            return  # and orch on a read or write of it: EIO): the ladder goes on (review18)
        else:
            detached(run.kill())

    for sig in stop_signals():
        loop.add_signal_handler(sig, on_signal, sig)
    # Held ones are delivered now, through the loop; unblocked before anything is spawned,
    # since a child inherits the signal mask.
    signal.pthread_sigmask(signal.SIG_UNBLOCK, stop_signals())
    return interrupts
