"""Stopping a command: a stop request or the deadline, whichever comes first, always wins.

A `Steering` belongs to one command at a time. Its watcher runs beside the output pump, so a
process that prints as fast as it can is stopped as surely as a silent one (the stop request
never competes with output for the pump's attention).
"""

from __future__ import annotations

import asyncio
import time

from .._loop import detached
from ..layers.base import LAUNCH_PHASE, Launcher, LaunchPhase
from ..process.command import Command
from ..process.handle import STOP_GRACE, ProcessHandle

#: How long a launch given up on may still finish before it is cancelled (seconds).
LAUNCH_GRACE = 1.0


class Steering:
    """A command's stop request, deadline and what ended it (timed out / interrupted)."""

    def __init__(self, timeout: float | None = None,
                 grace: tuple[float, float] = STOP_GRACE) -> None:
        self.deadline = None if timeout is None else time.monotonic() + timeout
        self.timeout = timeout
        self.grace = grace
        self.requested = asyncio.Event()
        self.timed_out = False
        #: The command in progress had ended on its own when its deadline came: it did not
        #: time out, though the deadline has passed for whatever the run starts next.
        self.ended_in_time = False
        self._watched: ProcessHandle | None = None  # the command's process, once it started
        self.interrupted = False

    def request_stop(self, *, interrupted: bool = True) -> None:
        self.interrupted = self.interrupted or interrupted
        self.requested.set()

    def stopping(self) -> bool:
        """A stop was requested or the deadline has passed (the process may still run)."""
        if self.requested.is_set():
            return True
        due = self.timed_out or (self.deadline is not None and time.monotonic() >= self.deadline)
        return due and not self.ended_in_time and not (
            self._watched is not None and self._watched.exited)

    async def wait(self) -> None:
        """Return when a stop was requested or the deadline passed (then `timed_out`)."""
        left = None if self.deadline is None else max(0.0, self.deadline - time.monotonic())
        try:
            await asyncio.wait_for(self.requested.wait(), left)
        except asyncio.TimeoutError:
            self.timed_out = True

    async def watch(self, handle: ProcessHandle) -> None:
        """Stop `handle` (INT → TERM → KILL) once a stop is due; run it beside the pump.

        A process that had ended before its deadline came did not time out, though its output
        may still be being read or filtered: there is nothing to stop."""
        self._watched = handle
        await self.wait()
        if self.timed_out and handle.exited:
            self.ended_in_time = True
            handle.deadline_passed()  # what it left behind is not followed past it
            return
        await handle.stop(self.grace)

    async def launch(self, launcher: Launcher, command: Command) -> ProcessHandle | None:
        """Launch, unless a stop or the deadline comes first (connecting can hang).

        None means the launch was given up before the process started. A handle that still
        arrives (the process started as the stop came) is returned: `watch` stops it at once,
        and its output and exit status are kept like any stopped run's.
        """
        self.ended_in_time, self._watched = False, None
        if self.requested.is_set():
            return None
        phase = LaunchPhase()
        token = LAUNCH_PHASE.set(phase)  # the launch's task runs in a copy of this context
        try:
            launching = asyncio.ensure_future(launcher.launch(command))
        finally:
            LAUNCH_PHASE.reset(token)
        due = asyncio.ensure_future(self.wait())
        try:
            await asyncio.wait({launching, due}, return_when=asyncio.FIRST_COMPLETED)
        except BaseException:
            launching.cancel()
            raise
        finally:
            due.cancel()
        if launching.done():
            return launching.result()
        phase.given_up = True  # a launch still under way stops short of its command
        return await self._late(launching, 0 if phase.only_connecting else LAUNCH_GRACE)

    async def _late(self, launching: asyncio.Future[ProcessHandle],
                    grace: float) -> ProcessHandle | None:
        # A launch that is nearly there may finish: cancelling asyncio's subprocess creation
        # half-way can hang for ever (it waits for a child's exit it never sees), so a launch
        # past connecting is cancelled only if still pending after a moment; one that only
        # waits on a connection (a host that never answers), at once.
        try:
            return await asyncio.wait_for(asyncio.shield(launching), grace)
        except asyncio.CancelledError:  # nobody will watch it: a process that still comes stops
            launching.add_done_callback(self._stop_unwatched)
            raise
        except asyncio.TimeoutError:
            launching.cancel()
            try:
                return await launching  # it finished meanwhile after all
            except BaseException:  # cancelled, or failed anyway: nothing is running
                return None
        except Exception:  # the launch failed anyway: nothing is running
            return None

    def _stop_unwatched(self, launching: asyncio.Future[ProcessHandle]) -> None:
        if not launching.cancelled() and launching.exception() is None:
            handle = launching.result()
            handle.discard_output()
            detached(handle.stop(self.grace))
