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
import re
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Literal, Protocol, TypeVar

from .._loop import BackgroundLoop, Interrupted, run_or_cancel
from ..admission import Gate, Ticket
from ..engine import Run, RunOptions
from ..guard import Scope
from ..layers.base import Launcher
from ..plan import RunPlan
from ..process.command import escaped
from ..result import RunResult
from ..secrets.masking import mask_text
from ..sinks.file import kept_as
from ..text import printable
from .model import CopyInterrupted, Progress, TransferError, Transferred, progress_of
from .receive import Receiver
from .scripts import done_path, get_problems, problems, remote_sha256, said_by
from .send import PutSource, Sending
from .shared_links import left_by_another, refuse_folders_through_them

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)


class Runs(Protocol):
    """What a copy needs from the Orchestrator: plan, admit and begin a run."""

    def plan(self, environment: str, service: str | None = None, *,
             command: str | Sequence[str] | None = None, dry_run: bool = ...,
             used: int | None = ...) -> RunPlan: ...

    def admit(self, plan: RunPlan, *, yes: str | Collection[str] = ...,
              front_end: str = ..., scope: Scope | str | None = ...) -> Ticket: ...

    def begin(self, plan: RunPlan, options: RunOptions = ...,
              ticket: Ticket | None = None, target: str | None = None) -> Run: ...

    def launcher_for(self, plan: RunPlan) -> Launcher: ...

    def kept_files(self) -> dict[str, str]: ...

    gate: Gate


class Copy:
    """One admitted copy, ready to run on an event loop."""

    def __init__(self, runs: Runs, plan: RunPlan, ticket: Ticket,
                 direction: Literal["get", "put"], source: str, destination: str, *,
                 target: str | None = None) -> None:
        self.runs, self.plan, self.ticket = runs, plan, ticket
        self.target = target  # a fleet target's label (kept in the audit record)
        self.direction = direction
        self.source, self.destination = source, destination
        self.put_source: PutSource | None = None
        self.done: Transferred | None = None  # once the copy is in place (kept)
        self._run: Run | None = None  # its script's run, once begun

    def kept(self) -> list[Transferred]:
        """The copy, once it is in place (a stop after that does not undo it)."""
        return [self.done] if self.done is not None else []

    def left(self) -> list[str]:
        """What its stopped run said may still be there (files10: `orch cp` said only that
        nothing was kept, where `orch run` said a process group may still run on a host)."""
        run = self._run
        if run is not None and not run.task.done():  # its stop outlived STOPPED_WITHIN
            return [f"its run at {run.launcher.chain} was still stopping after "  # (review22)
                    f"{STOPPED_WITHIN:g} s: it may still be running there"]
        task = run.task if run is not None else None
        if task is None or task.cancelled() or task.exception() is not None:
            return []
        error = task.result().exit.error
        return [str(error)] if error is not None else []

    @property
    def label(self) -> str:
        env = self.plan.environment.name
        # as Transferred says them: one line, a byte that is no UTF-8 as \xNN
        src, dst = printable(escaped(self.source)), printable(escaped(self.destination))
        if self.direction == "get":
            return f"{env}:{src} → {dst}"
        return f"{src} → {env}:{dst}"

    async def run(self, progress: Progress | None = None) -> Transferred:
        """Copy, or raise TransferError (CancelledError when interrupted) leaving nothing; a
        copy in place when the cancellation came stays (`kept()`)."""
        progress = progress_of(progress)
        ok: bool | None = False
        try:
            if self.put_source is not None:
                done = await self._put(self.put_source, progress)
            else:
                done = await self._get(progress)
            ok = True
        except (asyncio.CancelledError, KeyboardInterrupt):
            ok = None  # the bar says interrupted, as the error does
            raise
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
        receiver = Receiver(self.destination, progress, on_error=lambda: None,
                            label=self.label)
        options = RunOptions(sinks=[receiver], capture=False, raw_stdout=True)
        run = self._run = self.runs.begin(self.plan, options, self.ticket, self.target)
        receiver.on_error = run.stop
        loop = asyncio.get_running_loop()

        def stop() -> None:
            receiver.drop()  # bytes still in flight are not written
            run.stop()

        try:
            result = await _settled(run.task, stop)
            header = receiver.header
            said = get_problems(receiver.stderr)  # a read that failed at the far end too
            if receiver.error is not None or not result.ok or header is None or said:
                raise self._failed(result, said, receiver.error, receiver.stderr)
            try:  # blocking work in a thread, as a plain future (no task to cancel alone)
                await _settled(loop.run_in_executor(None, receiver.drain), receiver.drop)
                receiver.commit(remote_sha256(receiver.stderr))  # no await from here: kept,
                self.done = self._done(self.destination, header.kind, receiver.received,
                                       receiver.sha256, t0, run)  # and said so by a stop
            except (OSError, TransferError) as exc:  # that comes during the clean-up below
                raise self._failed(result, [], str(exc)) from None
        finally:
            await _settled(loop.run_in_executor(None, receiver.abort))
        return self.done

    async def _put(self, source: PutSource, progress: Progress) -> Transferred:
        t0 = time.monotonic()
        stopping = False
        stream = Sending(source, progress, lambda: stopping, self.label)

        def stop() -> None:
            nonlocal stopping
            stopping = True  # no further frame, nor the end line, goes out
            run.stop()

        try:
            run = self._run = self.runs.begin(
                self.plan, RunOptions(stdin=stream, close_stdin=True, sinks=[stream.go_ahead]),
                self.ticket, self.target)
            try:
                result = await _settled(run.task, stop)
            except asyncio.CancelledError:
                ended = run.task
                where = (None if ended.cancelled() or ended.exception() is not None
                         else _landed(ended.result(), stream))
                if where is not None:  # stopped too late: the copy is in place, and stays
                    self.done = self._done(where, source.kind, stream.size, stream.sha256,
                                           t0, run)
                raise
            finally:
                stopping = True
        finally:
            stream.close()
        where = _landed(result, stream)
        if where is None:
            if not result.ok or stream.error is not None:
                raise self._failed(result, problems(said_by(result.stderr_bytes)), stream.error)
            where = self.destination
        self.done = self._done(where, source.kind, stream.size, stream.sha256, t0, run)
        return self.done

    def _failed(self, result: RunResult, said: list[str], error: str | None,
                stderr: str = "") -> TransferError:
        """One line: what went wrong, said by us, the remote script or the run (`stderr`: a
        get's, which its receiver read, not the result). When the run itself ended well, or
        stopped by us for it, its trail is told (files10)."""
        if error is not None:
            why = error
        elif said:
            why = "; ".join(said)
        elif result.interrupted:
            why = "interrupted"
        else:
            why = result.describe_failure()
            last = [line for line in stderr.splitlines()
                    if line.strip() and not line.startswith("ORCH-")][-1:]
            if last and not why.endswith(last[0]):  # files13: "failed (exit 126)", no why
                why += f": {mask_text(printable(last[0]))}"
        if error is not None or said or result.ok:
            self.runs.gate.failed_after(result.audit_id, why)
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


def _landed(result: RunResult, stream: Sending) -> str | None:
    """Where a put's far end renamed its copy into place, having checked its size and sha256
    against what was sent whole (it says so last, whatever the run's end says after it)."""
    if stream.error is not None:
        return None  # (its bytes as they are: a name that is no UTF-8 kept, as paths are)
    return done_path(os.fsdecode(result.stdout_bytes))


def get_destination(remote: str, local: str | None, kept: Mapping[str, str]) -> str:
    """Where a get lands: LOCAL, or inside it when it is a directory, or ./NAME. Checked
    before any byte moves; the copy is renamed over LOCAL, so LOCAL may not be a device, nor
    one of the `kept` files orch itself keeps (review30: the audit log was replaced)."""
    check_base(local)
    dest = _get_destination(remote, local)
    refuse_kept(dest, kept)
    return dest


def refuse_kept(path: str, kept: Mapping[str, str]) -> None:
    """TransferError when a copy to `path` would replace one of the `kept` files."""
    if (what := kept_as(path, kept)) is not None:
        raise TransferError(f"{path} is {what}: the copy would replace it; name another file")


def check_base(local: str | None) -> None:
    """A relative LOCAL (or none: `./NAME`) needs a working directory that still exists
    (magics16: a traceback; the CLI said "internal error")."""
    if not os.path.isabs(local or "."):
        try:
            os.getcwd()
        except FileNotFoundError:
            raise TransferError("the working directory no longer exists, so a relative local "
                                "path names nothing: give an absolute one (or cd to a "
                                "folder first)") from None


def _get_destination(remote: str, local: str | None) -> str:
    name = posixpath.basename(remote.rstrip("/"))
    if local is not None and local.endswith(os.sep) and not os.path.isdir(local):
        raise no_local_directory(local, f" (a destination ending in {os.sep} is a folder to "
                                        f"copy into)")
    if local is not None and os.path.exists(local) and not (os.path.isdir(local)
                                                            or os.path.isfile(local)):
        raise TransferError(f"not a regular file: {local} (a get replaces a file; it never "
                            f"writes into a device, pipe or socket)")
    if local is None or os.path.isdir(local):
        if not name or name in (".", "..", "~"):
            raise TransferError(f"cannot name a local copy of {remote!r}: give a local path")
        return _landing(os.path.join(local or ".", name))
    parent = os.path.dirname(os.path.abspath(local))
    if not os.path.isdir(parent):
        raise no_local_directory(parent)
    return _landing(local)


def no_local_directory(path: str, why: str = "") -> TransferError:
    """A folder that is not there: missing, or a file where it is needed (files9: a file's
    name was said to be missing)."""
    above = os.path.abspath(path.rstrip(os.sep) or os.sep)
    while not os.path.lexists(above) and os.path.dirname(above) != above:
        above = os.path.dirname(above)
    if os.path.exists(above) and not os.path.isdir(above):
        return TransferError(f"not a directory: {above}")
    return TransferError(f"no such local directory: {path}{why}")


def _landing(dest: str) -> str:
    """`dest` as an absolute path (see _through_link), unless it is a file orch's own output
    goes to: the copy lands where it was asked, whatever folder the process is in when it
    ends (files15: a `%cd` during a background get replaced a file of the other folder)."""
    if _a_standard_stream(dest):
        raise TransferError(f"{dest} is this process's standard input, output or error (a "
                            f"redirect's file): a get would replace it, and what is written "
                            f"there after it would be lost; to read a remote file into it, use "
                            f"`orch run ENV -- cat PATH`")
    return os.path.abspath(_through_link(dest))


#: A process's open file as a path (`/dev/stdout` resolves to `/proc/PID/fd/1`, then to what
#: it is open on: a pipe's stays under /proc).
_FD_LINK = re.compile(r"/(proc/(self|thread-self|\d+)|dev)/fd/")


def _a_standard_stream(local: str) -> bool:
    """Whether `local` is /dev/stdout and the like (/dev/fd/N, /proc/PID/fd/N), or the very
    file fd 0, 1 or 2 is open on: a rename over it leaves the shell writing to a deleted file
    (api4: `{ orch cp ENV:F /dev/stdout; echo end; } > out` lost "end")."""
    if _FD_LINK.match(os.path.realpath(local)):  # not any /proc path (basics10: /proc/1/x)
        return True
    try:
        found = os.stat(local)
    except OSError:
        return False
    for fd in (0, 1, 2):
        try:
            held = os.fstat(fd)
        except OSError:
            continue
        if (held.st_dev, held.st_ino) == (found.st_dev, found.st_ino):
            return True
    return False


def _through_link(dest: str) -> str:
    """A link to a file is written through (the file it names is replaced), as cp does; not
    one another user left in a shared folder (shared_links.py): that link is replaced, never
    what it names; nor a folder on the way that is one."""
    refuse_folders_through_them(os.path.dirname(os.path.abspath(dest)))
    if os.path.islink(dest) and not os.path.exists(dest):
        raise TransferError(f"not writing through the dangling link {dest} "
                            f"(to {os.readlink(dest)}), as cp would not")
    if not (os.path.islink(dest) and os.path.isfile(dest)) or left_by_another(dest):
        return dest
    return os.path.realpath(dest)


class Copying(Protocol[T_co]):
    """A prepared copy (of one target, or of a fleet's every target)."""

    async def run(self, progress: Progress | None = None) -> T_co: ...

    def kept(self) -> list[Transferred]:
        """The copies in place so far: whole and checked, kept through a stop."""

    def left(self) -> list[str]:
        """What stopped runs said may still be there (a far end the stop could not reach)."""


def run_blocking(loop: BackgroundLoop, copy: Copying[T], progress: Progress | None = None) -> T:
    """Run `copy` on the background loop and wait. Ctrl-C stops it and, once it has stopped,
    raises CopyInterrupted: nothing is kept but copies already in place (`.kept`)."""
    try:
        return run_or_cancel(loop, copy.run(progress), STOPPED_WITHIN)
    except Interrupted as exc:  # its cause: Ctrl-C, or the CLI's TERM / HUP (exit status)
        raise CopyInterrupted(copy.kept(), copy.left()) from exc.__cause__


#: How long a stopped copy may take to end (far above the stop ladder's INT, TERM, KILL).
STOPPED_WITHIN = 60.0

