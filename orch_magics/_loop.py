"""A private event loop in a daemon thread: the home of sync calls, live runs and SSH pools.

Notebook kernels already run a loop (and block it while a cell runs), so synchronous front ends
submit their coroutines here. Connections pooled by layers live on this loop across cells.
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import contextlib
import logging
import os
import threading
import time
from collections.abc import Callable, Coroutine
from typing import Any, Protocol, TypeVar

from .asking import awaited_cell_interrupts
from .errors import OrchError, SendInterrupted, StillRunning
from .limits import seconds
from .text import human_size

T = TypeVar("T")


#: A thread waiting on the loop wakes this often: Python runs a signal's handler (Ctrl-C) only
#: in the main thread, when it next runs bytecode, so a wait woken by nothing would see a
#: signal that another thread took only once what it waits for is over.
WAIT_SLICE = 0.1


#: What asyncio logs for each write to a transport already lost (past its fifth): a fleet
#: put whose target dropped printed it 32-120 times (files8), as the packets read with the
#: loss flushed the put's queued data into it. orch says a lost connection itself, once.
_LOST_WRITES = frozenset({"socket.send() raised exception.",
                          "pipe closed by peer or os.write(pipe, data) raised exception."})


#: The background loop's thread.
LOOP_THREAD = "orch-loop"


class _QuietLostWrites(logging.Filter):
    """Drops `_LOST_WRITES` of orch's loop (a user's own asyncio code keeps them: review17),
    or of any thread in a process that runs orch alone (`everywhere`: the CLI)."""

    everywhere = False

    def filter(self, record: logging.LogRecord) -> bool:
        return record.msg not in _LOST_WRITES or not (
            self.everywhere or record.threadName == LOOP_THREAD)


_QUIET = _QuietLostWrites()
logging.getLogger("asyncio").addFilter(_QUIET)


def quiet_lost_writes_everywhere() -> None:
    """For a process that is orch's alone (the CLI runs its loop on the main thread)."""
    _QUIET.everywhere = True


#: `loop` is set on a BackgroundLoop's own thread: a blocking wait there waits for itself.
_THIS_THREAD = threading.local()


def on_loop_thread() -> bool:
    """Whether this is a BackgroundLoop's own thread (a callback, a sink's feed): a blocking
    wait here would wait for itself."""
    return bool(getattr(_THIS_THREAD, "loop", False))


def refuse_on_loop(what: str) -> None:
    """Raise before `what` (a call that waits for the loop) is done from the loop's own
    thread: it would wait for ever (files7: refused only after the run had been sent there,
    so it ran, audited, with nobody to see it end)."""
    if on_loop_thread():
        raise OrchError(f"{what} on the orchestrator's own loop (from a sink's feed or a "
                        f"callback) would wait for ever: that loop runs it; use arun() there, "
                        f"or hand the work to a thread")


def check_wait(timeout: object) -> float | None:
    """How long to wait: None (no limit) or a number of seconds, 0 or more, as a float; else
    ConfigError (checked before a call does anything, as `stop(name, timeout=…)` stops)."""
    return seconds(timeout, zero_ok=True)


def result_of(future: concurrent.futures.Future[T], timeout: float | None = None,
              what: str = "the run", tick: Callable[[], None] | None = None) -> T:
    """`future.result(timeout)`, waited for in slices: a Ctrl-C is raised here within one,
    and `tick()` (a live view's clock) is called after each. Past `timeout`, StillRunning (a
    TimeoutError) says that `what` is still running and how long it waited (Python's own had
    no message); a `timeout` that is no number of seconds is a ConfigError."""
    timeout = check_wait(timeout)
    if not future.done():
        refuse_on_loop(f"waiting for {what}")
    with awaited_cell_interrupts():  # magics19: a cell using top-level await too
        return _waited(future, timeout, what, tick)


def room_waited(future: concurrent.futures.Future[None], who: str, sent: int) -> None:
    """Wait until `who` has read enough of its input (`future`: its stdin's `room()`). A
    Ctrl-C ends the wait, not the run, in one line saying that the `sent` bytes stay queued
    (magics25: a 40-line traceback, and they went all the same)."""
    try:
        result_of(future, what=f"{who} to read its input")
    except KeyboardInterrupt:
        raise SendInterrupted(f"the wait for {who} to read its input was interrupted: the "
                              f"{human_size(sent)} sent stay queued and reach it as it reads "
                              f"(stop the run to drop them)") from None


def _waited(future: concurrent.futures.Future[T], timeout: float | None, what: str,
            tick: Callable[[], None] | None) -> T:
    deadline = None if timeout is None else time.monotonic() + timeout
    while not future.done():
        left = WAIT_SLICE if deadline is None else min(WAIT_SLICE, deadline - time.monotonic())
        if left <= 0:
            raise StillRunning(f"{what} is still running after waiting {timeout:g} s (it was "
                               f"not stopped: wait again, or stop it)")
        try:
            concurrent.futures.wait([future], timeout=left)
        except RuntimeError as exc:  # a Ctrl-C that landed inside the wait's lock handling:
            if isinstance(exc.__context__, KeyboardInterrupt):  # its `with` then released a
                raise exc.__context__ from None  # lock it did not hold; the Ctrl-C is the news
            raise
        if tick is not None and not future.done():
            tick()
    return future.result()


def started(future: concurrent.futures.Future[T]) -> tuple[T, bool]:
    """What `future` gave (a coroutine that starts something on the loop and returns at
    once), and whether a Ctrl-C came while waiting for it: what it started has started all
    the same, for the caller to stop (left alone it would run on unseen, an orphan)."""
    interrupted = False
    while True:
        try:
            return result_of(future), interrupted
        except KeyboardInterrupt:
            interrupted = True


class Interrupted(KeyboardInterrupt):
    """Ctrl-C came while waiting in `run_or_cancel`; the coroutine was cancelled and waited
    for. `future` holds its end: a result when it had finished before the cancel reached it
    (what it opened is then the caller's to close), else cancelled or an error."""

    def __init__(self, future: concurrent.futures.Future[Any]) -> None:
        super().__init__()
        self.future = future

    def result(self) -> Any:
        """What the coroutine returned, or None if it did not finish."""
        done = self.future.done() and not self.future.cancelled()
        return self.future.result() if done and self.future.exception() is None else None


def run_or_cancel(loop: BackgroundLoop, coro: Coroutine[Any, Any, T], bound: float) -> T:
    """Run `coro` on `loop` and wait for its result. A Ctrl-C cancels it on the loop, waits
    until it has ended (at most `bound` s; a further Ctrl-C waits on) and raises Interrupted:
    an interrupted caller must not leave it running on the loop, doing what nobody awaits."""
    if on_loop_thread():
        coro.close()  # never sent: nothing started, and nothing left unawaited
        refuse_on_loop("waiting for it")
    tasks: list[asyncio.Task[T]] = []
    stopped = False

    async def main() -> T:
        if stopped:  # Ctrl-C came before it began
            coro.close()
            raise asyncio.CancelledError
        task = asyncio.ensure_future(coro)
        tasks.append(task)
        return await task

    def stop() -> None:  # on the loop's thread, as main() runs: they cannot race
        nonlocal stopped
        stopped = True
        for task in tasks:
            task.cancel()

    future = loop.submit(main())
    try:
        return result_of(future)
    except KeyboardInterrupt as exc:
        loop.call(stop)
        deadline = time.monotonic() + bound
        while not future.done() and time.monotonic() < deadline:
            try:
                concurrent.futures.wait([future], timeout=WAIT_SLICE)
            except KeyboardInterrupt:
                continue
        raise Interrupted(future) from exc


def settled(future: concurrent.futures.Future[Any], timeout: float | None) -> None:
    """Wait up to `timeout` for `future` to end, whatever its outcome (shutting down: a failure
    was said where it happened); a Ctrl-C while waiting is not swallowed."""
    concurrent.futures.wait([future], timeout)


async def cancelled(task: asyncio.Future[Any] | None) -> None:
    """Cancel `task` and wait for its end, whatever it raised (retrieved: never reported as
    lost); a cancellation of the caller itself, meanwhile, goes on (a suppress(BaseException)
    around `await task` swallowed it)."""
    if task is None:
        return
    task.cancel()
    await asyncio.wait({task})
    if not task.cancelled():
        task.exception()


#: Tasks nobody awaits, held until done (a loop keeps only weak references to tasks).
_DETACHED: set[asyncio.Task[Any]] = set()


def detached(coro: Coroutine[Any, Any, Any],
             loop: asyncio.AbstractEventLoop | None = None) -> asyncio.Task[Any]:
    """Start `coro` on `loop` (the running one by default) as a task nobody awaits, held
    until it is done so the collector cannot end it half-way; a failure is still reported
    by asyncio ("exception was never retrieved")."""
    task = (loop or asyncio.get_running_loop()).create_task(coro)
    _DETACHED.add(task)
    task.add_done_callback(_DETACHED.discard)
    return task


def closing_on(loop: asyncio.AbstractEventLoop, coro: Coroutine[Any, Any, None]) -> None:
    """Run `coro` on `loop`, a running loop that is not ours, from any thread (from its own
    one too: a sync close in a notebook cell), without waiting for it: it runs as soon as
    that loop is free."""
    def start() -> None:
        detached(coro, loop)

    try:
        loop.call_soon_threadsafe(start)
    except RuntimeError:  # it closed meanwhile
        coro.close()


class LoopResource(Protocol):
    """What was opened on one event loop (a LaunchContext): closed on it, or cut at its
    sockets (its loop ended, or its close hung)."""

    async def aclose(self) -> None: ...

    def cut(self) -> None: ...


R = TypeVar("R", bound=LoopResource)


#: Seconds a resource's close on orch's own loop may take before it is cut at its sockets.
CLOSE_WAIT = 10.0


async def closed_within(resource: LoopResource, wait: float) -> None:
    """Close `resource`, or cut it at its sockets after `wait` s: an engine that stopped
    answering must not hold `Orchestrator.close()` for ever (chains31: a stalled shim)."""
    try:
        await asyncio.wait_for(resource.aclose(), wait)
    except asyncio.TimeoutError:
        resource.cut()


def close_on_their_loops(resources: dict[asyncio.AbstractEventLoop, R],
                         own: BackgroundLoop | None) -> None:
    """Close (and forget) each resource on the loop it was opened on: on `own` at once
    (`closed_within` CLOSE_WAIT s), on a running one (a kernel's) there as soon as it is
    free, and one whose loop has ended (`asyncio.run` returned) at its sockets."""
    for loop, resource in list(resources.items()):
        resources.pop(loop, None)
        if own is not None and loop is own.loop:
            with contextlib.suppress(concurrent.futures.TimeoutError):  # its loop is stuck
                own.submit(closed_within(resource, CLOSE_WAIT)).result(CLOSE_WAIT + 5)
        elif loop.is_running():
            closing_on(loop, resource.aclose())
        else:
            resource.cut()


class BackgroundLoop:
    def __init__(self) -> None:
        # Modules whose fork hooks take a lock before a fork and give it back after: imported
        # on another thread while this loop forks a process, the second hook ran without the
        # first ("RuntimeError: release unlocked lock" in a notebook cell, browser9). So now,
        # before the loop can fork anything.
        import concurrent.futures.thread  # noqa: F401 (logging is imported above)

        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._main, name=LOOP_THREAD, daemon=True)
        self._thread.start()

    def _main(self) -> None:
        _THIS_THREAD.loop = True
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    def submit(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        """Schedule `coro` on the loop; returns a thread-safe future."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def call(self, fn: Any, *args: Any) -> None:
        """Run a plain callable on the loop thread (for thread-safe method calls)."""
        self.loop.call_soon_threadsafe(fn, *args)

    @property
    def in_loop_thread(self) -> bool:
        return threading.current_thread() is self._thread

    def stop(self) -> None:
        if self.loop.is_running():
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(timeout=5)


_instance: BackgroundLoop | None = None
_lock = threading.Lock()


def _forget_after_fork() -> None:
    """A forked child (multiprocessing) has no copy of the loop's thread: it starts its own."""
    global _instance, _lock
    _instance, _lock = None, threading.Lock()


os.register_at_fork(after_in_child=_forget_after_fork)


def background_loop() -> BackgroundLoop:
    """The process-wide background loop, started on first use."""
    global _instance
    with _lock:
        if _instance is None:
            _instance = BackgroundLoop()
        return _instance


@atexit.register
def _shutdown() -> None:
    if _instance is not None:
        _instance.stop()
