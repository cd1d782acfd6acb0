"""Copies through any chain: each is one audited, guarded run of a script from scripts.py.

`prepare_get` / `prepare_put` check the local side, plan the run and admit it (in the
caller's thread: a protected environment may ask a person); `Copy.run()` then runs it on an
event loop. Nothing is left behind on failure or interrupt: the receiving side writes under
a temporary name and renames only after size and sha256 match on both ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import posixpath
import time
from collections.abc import Callable, Collection, Sequence
from typing import Literal, Protocol, TypeVar

from .._loop import BackgroundLoop
from ..admission import Ticket
from ..engine import Run, RunOptions
from ..layers.base import Launcher
from ..plan import RunPlan
from ..result import RunResult
from .model import CopyInterrupted, NoProgress, Progress, TransferError, Transferred
from .receive import Receiver
from .scripts import done_path, problems, remote_sha256
from .send import Sending, Source

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)


class Runs(Protocol):
    """What a copy needs from the Orchestrator: plan, admit and begin a run."""

    def plan(self, environment: str, service: str | None = None, *,
             command: str | Sequence[str] | None = None) -> RunPlan: ...

    def admit(self, plan: RunPlan, *, yes: str | Collection[str] = ...,
              front_end: str = ...) -> Ticket: ...

    def begin(self, plan: RunPlan, options: RunOptions = ...,
              ticket: Ticket | None = None, target: str | None = None) -> Run: ...

    def launcher_for(self, plan: RunPlan) -> Launcher: ...


class Copy:
    """One admitted copy, ready to run on an event loop."""

    def __init__(self, runs: Runs, plan: RunPlan, ticket: Ticket,
                 direction: Literal["get", "put"], source: str, destination: str, *,
                 target: str | None = None) -> None:
        self.runs, self.plan, self.ticket = runs, plan, ticket
        self.target = target  # a fleet target's label (kept in the audit record)
        self.direction = direction
        self.source, self.destination = source, destination
        self.put_source: Source | None = None
        self.done: Transferred | None = None  # once the copy is in place (kept)

    def kept(self) -> list[Transferred]:
        """The copy, once it is in place (a stop after that does not undo it)."""
        return [self.done] if self.done is not None else []

    @property
    def label(self) -> str:
        env = self.plan.environment.name
        if self.direction == "get":
            return f"{env}:{self.source} → {self.destination}"
        return f"{self.source} → {env}:{self.destination}"

    async def run(self, progress: Progress | None = None) -> Transferred:
        """Copy, or raise TransferError (CancelledError when interrupted) leaving nothing; a
        copy in place when the cancellation came stays (`kept()`)."""
        progress = progress or NoProgress()
        ok = False
        try:
            if self.put_source is not None:
                done = await self._put(self.put_source, progress)
            else:
                done = await self._get(progress)
            ok = True
        finally:
            progress.finish(ok)
        return done

    def _done(self, destination: str, kind: Literal["file", "directory"], size: int, sha: str,
              t0: float, run: Run) -> Transferred:
        return Transferred(self.direction, self.plan.environment.name, self.source,
                           destination, kind, size, sha, time.monotonic() - t0, run.audit_id,
                           self.target)

    async def _get(self, progress: Progress) -> Transferred:
        t0 = time.monotonic()
        receiver = Receiver(self.destination, progress, on_error=lambda: None)
        options = RunOptions(sinks=[receiver], capture=False, raw_stdout=True)
        run = self.runs.begin(self.plan, options, self.ticket, self.target)
        receiver.on_error = run.stop
        try:
            def stop() -> None:
                receiver.drop()  # bytes still in flight are not written
                run.stop()

            result = await _settled(run.task, stop)
            header = receiver.header
            if receiver.error is not None or not result.ok or header is None:
                raise self._failed(result, receiver.stderr, receiver.error)
            try:
                await _settled(asyncio.ensure_future(asyncio.to_thread(receiver.drain)))
                receiver.commit(remote_sha256(receiver.stderr))  # no await from here: kept
            except (OSError, TransferError) as exc:
                raise self._failed(result, "", str(exc)) from None
        finally:
            receiver.abort()
        self.done = self._done(self.destination, header.kind, receiver.received,
                               receiver.sha256, t0, run)
        return self.done

    async def _put(self, source: Source, progress: Progress) -> Transferred:
        t0 = time.monotonic()
        stopping = False
        progress.start(self.label, source.size)
        stream = Sending(source, progress, lambda: stopping)
        try:
            run = self.runs.begin(self.plan, RunOptions(stdin=stream, close_stdin=True),
                                  self.ticket, self.target)
            try:
                result = await _settled(run.task, run.stop)
            except asyncio.CancelledError:
                self._landed(run, source, stream, t0)
                raise
            finally:
                stopping = True
        finally:
            stream.close()
        if not result.ok or stream.error is not None:
            raise self._failed(result, result.stderr, stream.error)
        where = done_path(result.stdout) or self.destination
        self.done = self._done(where, source.kind, stream.size, stream.sha256, t0, run)
        return self.done

    def _landed(self, run: Run, source: Source, stream: Sending, t0: float) -> None:
        """A put stopped after the far end had renamed its copy into place (and said so) is
        kept there: it is whole and checked, so it is recorded as done."""
        if run.task.cancelled() or run.task.exception() is not None:
            return
        where = done_path(run.task.result().stdout)
        if where is not None and stream.error is None:
            self.done = self._done(where, source.kind, stream.size, stream.sha256, t0, run)

    def _failed(self, result: RunResult, stderr: str, error: str | None) -> TransferError:
        """One line: what went wrong, said by us, the remote script or the run."""
        said = problems(stderr)
        if error is not None:
            why = error
        elif said:
            why = "; ".join(said)
        elif result.interrupted:
            why = "interrupted"
        else:
            why = result.describe_failure()
        return TransferError(f"{self.direction} {self.label} failed: {why}; nothing was kept")


async def _settled(task: asyncio.Future[T], on_cancel: Callable[[], None] = lambda: None) -> T:
    """`task`'s result. Cancelled from outside, `on_cancel` is called and `task` is waited for
    through any further cancellations (it is bounded: the stop ladder, or a drain of queued
    bytes), so what it does has ended before the copy cleans up; then the cancellation goes on."""
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:
        on_cancel()
        while not task.done():
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait({task})
        raise


def get_destination(remote: str, local: str | None) -> str:
    """Where a get lands: LOCAL, or inside it when it is a directory, or ./NAME. Checked
    before any byte moves; the copy is renamed over LOCAL, so LOCAL may not be a device."""
    name = posixpath.basename(remote.rstrip("/"))
    if local is not None and local.endswith(os.sep) and not os.path.isdir(local):
        raise TransferError(f"no such local directory: {local} (a destination ending in "
                            f"{os.sep} is a folder to copy into)")
    if local is not None and os.path.exists(local) and not (os.path.isdir(local)
                                                            or os.path.isfile(local)):
        raise TransferError(f"not a regular file: {local} (a get replaces a file; it never "
                            f"writes into a device, pipe or socket)")
    if local is None or os.path.isdir(local):
        if not name or name in (".", ".."):
            raise TransferError(f"cannot name a local copy of {remote!r}: give a local path")
        return os.path.join(local or ".", name)
    parent = os.path.dirname(os.path.abspath(local))
    if not os.path.isdir(parent):
        raise TransferError(f"no such local directory: {parent}")
    return local


class Copying(Protocol[T_co]):
    """A prepared copy (of one target, or of a fleet's every target)."""

    async def run(self, progress: Progress | None = None) -> T_co: ...

    def kept(self) -> list[Transferred]:
        """The copies in place so far: whole and checked, kept through a stop."""


def run_blocking(loop: BackgroundLoop, copy: Copying[T], progress: Progress | None = None) -> T:
    """Run `copy` on the background loop and wait. Ctrl-C stops it and raises CopyInterrupted
    once it has stopped: nothing is kept but copies already in place (`.kept`)."""
    tasks: list[asyncio.Task[T]] = []

    async def main() -> T:
        task = asyncio.ensure_future(copy.run(progress))
        tasks.append(task)
        return await task

    future = loop.submit(main())
    try:
        return future.result()
    except KeyboardInterrupt as exc:
        if tasks:
            loop.call(tasks[0].cancel)
        with contextlib.suppress(BaseException):
            future.result(timeout=60)  # the run is stopped and its temporary name removed
        raise CopyInterrupted(copy.kept()) from exc
