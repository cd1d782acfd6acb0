"""What an Orchestrator started and must stop: its unnamed live runs, and interpreter exit.

A notebook kernel that shuts down (or a script that ends) must not leave a process running at
the end of any chain: the first Orchestrator that starts something registers one exit hook,
which closes every Orchestrator still alive. It runs when the interpreter starts to shut down,
before threads are joined and before `atexit` handlers: by then concurrent.futures refuses new
work ("cannot schedule new futures after shutdown"), and stopping a run in a container behind
ssh needs it (the docker SDK's calls and a new ssh connection run in executor threads).

A polite kill (TERM: a supervisor, `kill`, a kernel manager giving up) or a closed terminal
(HUP) ends a process on the spot when left at their default, with no exit hook: every run's
process would live on at the far end. So the same first use makes those two signals, when
still at their default and in the main thread, stop everything first (at most
`SIGNAL_STOP_TIMEOUT` s) and then end the process by that same signal, as it would have.
A handler the program set is left alone, as is an ignored HUP (`nohup`).
"""

from __future__ import annotations

import atexit
import contextlib
import os
import signal
import threading
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

from ._loop import settled

if TYPE_CHECKING:  # a named run notes a cut short in its log: lifecycle imports this module
    from .live import LiveRun
    from .named_runs import Entry
    from .result import RunResult


class StopsAll(Protocol):
    def stop_all(self, timeout: float | None) -> None: ...


def stop_runs(named: list[Entry], spawned: list[LiveRun], fleets: StopsAll | None,
              timeout: float | None) -> None:
    """Stop named runs, unnamed ones and fleets (all at once), then wait for their ends."""
    for entry in named:
        entry.supervisor.request_stop()
    for live in spawned:
        live.interrupt()
    if fleets is not None:
        fleets.stop_all(timeout)
    for entry in named:
        settled(entry.supervisor.finished, timeout)
    for live in spawned:
        live.settle(timeout)


class Closable(Protocol):
    def close(self) -> None: ...

    def after_fork(self) -> None: ...


class SpawnedRuns:
    """The unnamed live runs of one Orchestrator until they end (close() stops them)."""

    def __init__(self) -> None:
        self._runs: set[LiveRun] = set()
        self._lock = threading.Lock()

    def add(self, live: LiveRun) -> None:
        with self._lock:
            self._runs.add(live)

        def forget(_result: RunResult | None, _error: BaseException | None) -> None:
            with self._lock:
                self._runs.discard(live)

        live.when_done(forget)

    def current(self) -> list[LiveRun]:
        with self._lock:
            return list(self._runs)


#: Seconds a TERM or HUP left at its default waits for every run to stop before the process
#: ends (a supervisor's own patience is often 10 s: `docker stop`, Kubernetes' is 30 s).
SIGNAL_STOP_TIMEOUT = 8.0
#: The signals whose default ends the process with no clean-up, which a first use takes over.
FATAL_SIGNALS = (signal.SIGTERM, signal.SIGHUP)

_LIVE: weakref.WeakSet[Closable] = weakref.WeakSet()
#: Told (with why, in words) when a signal's stop ran out of time and the process ends now,
#: runs not yet ended: what they must record first (the audit trail's end records).
_CUT_SHORT: list[Callable[[str], None]] = []
_registered = False
_signals_taken = False
_exiting = threading.Event()
#: The thread stopping every run since the kernel was asked to shut down (`begin_exit`).
_kernel_stop: threading.Thread | None = None


def exiting() -> bool:
    """True once interpreter exit (a kernel shutting down) has begun stopping every run: a run
    that ends now was stopped by it, and the kernel's own loop is gone (IOPub still sends)."""
    return _exiting.is_set()


def begin_exit() -> None:
    """A kernel was asked to shut down, its main thread perhaps in a cell that waits on a run:
    every run is stopped now, in a thread, so that cell ends saying why before the kernel's
    manager loses patience (jupyter_client kills a kernel 5 s after asking it to go)."""
    global _kernel_stop
    if _exiting.is_set():
        return
    _exiting.set()
    _kernel_stop = threading.Thread(target=_close_everything, name="orch-kernel-shutdown",
                                    daemon=True)
    _kernel_stop.start()


def close_at_exit(owner: Closable) -> None:
    """Make sure interpreter exit (kernel shutdown) closes `owner` (registered on first use)."""
    global _registered
    _LIVE.add(owner)
    if not _registered:
        _registered = True
        # Its own hook first: threading runs these last-registered first.
        import concurrent.futures.thread  # noqa: F401

        try:  # the hook concurrent.futures itself uses (threading's, not atexit's)
            hook = threading._register_atexit  # type: ignore[attr-defined]  # private-ok: see above
            hook(_close_everything)
        except (AttributeError, RuntimeError):  # another Python, or already shutting down
            atexit.register(_close_everything)
    if not _signals_taken:
        _stop_first_on_fatal_signals()


def _stop_first_on_fatal_signals() -> None:
    """TERM and HUP, where still at their default, stop every run before they end the process
    (Python sets handlers in the main thread only: a first use elsewhere leaves it to the
    next use there)."""
    global _signals_taken
    if threading.current_thread() is not threading.main_thread():
        return
    _signals_taken = True
    for sig in FATAL_SIGNALS:
        if signal.getsignal(sig) is signal.SIG_DFL:
            signal.signal(sig, _stop_then_end)


def _stop_then_end(signum: int, _frame: object) -> None:
    """Stop every run (in a thread of its own: the interrupted main thread may hold a lock
    the stop needs, which then costs the timeout, not a hang), then end by `signum`."""
    for sig in FATAL_SIGNALS:  # a second signal ends the process at once, as it would have
        if signal.getsignal(sig) is _stop_then_end:
            signal.signal(sig, _end_now)
    if _kernel_stop is not None:  # jupyter_client's TERM, 2.5 s after its shutdown request:
        # the stop is under way; the main thread goes on, so the cell waiting on a run ends
        # saying why, and the kernel exits; the signal ends it only if that takes too long.
        late = threading.Timer(SIGNAL_STOP_TIMEOUT, os.kill, (os.getpid(), signum))
        late.daemon = True  # an exit does not wait for it
        late.start()
        return
    stopper = threading.Thread(target=_close_everything, name="orch-stop-on-signal", daemon=True)
    stopper.start()
    stopper.join(SIGNAL_STOP_TIMEOUT)
    if stopper.is_alive():  # out of time: what has not ended says so before the process goes
        _cut_short(f"orch ended by {signal.Signals(signum).name} after "
                   f"{SIGNAL_STOP_TIMEOUT:g} s of stopping its runs; this one's end was not seen")
    signal.signal(signum, signal.SIG_DFL)  # our own kill is no second signal (`_end_now`)
    os.kill(os.getpid(), signum)


def _end_now(signum: int, _frame: object) -> None:
    """A second TERM or HUP while the first stops the runs: end now, as the default would,
    once what has not ended says so."""
    _cut_short(f"orch ended by a second {signal.Signals(signum).name} while it stopped its "
               f"runs; this one's end was not seen")
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)


def _cut_short(why: str) -> None:
    """Tell what registered `when_cut_short` that the process ends now, and why."""
    for told in list(_CUT_SHORT):
        with contextlib.suppress(Exception):
            told(why)


def when_cut_short(told: Callable[[str], None]) -> None:
    """Have `told(why)` called when a TERM or HUP ends the process before every run stopped."""
    _CUT_SHORT.append(told)


def _after_fork() -> None:
    """A forked child owns none of its parent's runs: they are forgotten, not closed, there."""
    for owner in list(_LIVE):
        owner.after_fork()
    _LIVE.clear()


os.register_at_fork(after_in_child=_after_fork)


def _close_everything() -> None:
    """At interpreter exit (a kernel shutting down): stop every run, close every pool; what
    has still not ended (a stop that ran out of time) says so. Once: at exit after a kernel's
    shutdown request began it, its thread is waited for (two closes at once would each say
    the runs not yet ended were cut short)."""
    stopping = _kernel_stop
    if stopping is not None and stopping is not threading.current_thread():
        stopping.join(SIGNAL_STOP_TIMEOUT)
        if stopping.is_alive():
            _cut_short("orch exited before this run's end was seen (its stop ran out of time)")
        return
    _exiting.set()
    for owner in list(_LIVE):
        try:
            owner.close()
        except Exception:
            pass
    _cut_short("orch exited before this run's end was seen (its stop ran out of time)")
