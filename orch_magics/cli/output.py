"""Our own stdout and stderr, as a run writes them: when they fail, the run stops.

A reader that leaves (`orch run … | head`, `2>&1 | head`, stderr alone piped) stops the run as
SIGPIPE stops a shell pipeline's producer (status 141); a device that fails (`> /dev/full`, an
I/O error) stops it with one line, `orch: cannot write the output: …`, and status 1, as
coreutils do. A reader that does not read never keeps a stop from working: the writes wait
in a thread (`writer.py`), a stopping run's output pump no longer waits for them, and after
a stop signal orch waits for them only while the reader still takes something.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import select
import signal
import stat
import sys
from collections.abc import Callable
from typing import Any, Protocol, TextIO

from ..errors import OrchError
from ..text import bytes_shown
from .interrupts import stop_signals
from .writer import LOW_WATER, BackgroundWriter

#: What a shell reports for a producer whose reader left.
EXIT_PIPE = 128 + signal.SIGPIPE
#: A command line orch cannot read, or will not act on as given (argparse's own status).
EXIT_USAGE = 2
#: Write errors of a device or file system (not of a file orch opened by name).
_DEVICE_ERRORS = {errno.ENOSPC, errno.EIO, errno.EFBIG, errno.EDQUOT, errno.EROFS, errno.ENXIO}
#: Set when orch was started with stdout closed (`>&-`): held read-only, so a write to it
#: fails with EBADF, which is then the output's error, not a defect of ours.
stdout_closed_at_start = False
#: Bytes that may wait for a reader that does not read while a stopping run ends (the pump no
#: longer waits for it then); what the process prints beyond is dropped, from there on (a cut,
#: not a gap), and the number of bytes is said at the end.
PILE_LIMIT = 64 << 20
#: After a stop signal, how long orch waits for a reader that takes nothing (seconds).
GIVE_UP = 0.5


class OutputError(OrchError):
    """Our stdout or stderr cannot be written (a full disk, an I/O error)."""

    def __init__(self, exc: OSError) -> None:
        super().__init__(f"cannot write the output: {exc.strerror or exc}")


def is_output_error(exc: OSError) -> bool:
    """Whether `exc` is a failed write of our own output (print, flush): a device error
    without a file name (an error about a file orch opened names the file)."""
    return exc.filename is None and (exc.errno in _DEVICE_ERRORS or (
        exc.errno == errno.EBADF and stdout_closed_at_start))


def _terminal_gone(fd: int, exc: OSError) -> bool:
    """A write failed because the terminal hung up (EIO from a character device), while a
    HUP stops orch: as a read of a gone terminal, it is the hang-up (cli/stream.py)."""
    if exc.errno != errno.EIO or signal.SIGHUP not in stop_signals():
        return False
    try:
        return stat.S_ISCHR(os.fstat(fd).st_mode)
    except OSError:
        return False


def say(text: str) -> None:
    """A line of orch's own on stderr, when stderr can still take it (else nothing)."""
    if sys.stderr is None:  # started with stderr closed (`2>&-`): nowhere to say it
        return
    try:
        print(bytes_shown(text), file=sys.stderr, flush=True)
    except OSError:
        discard(2)


def discard(fd: int) -> None:
    """Send what is still buffered for `fd` (and written later) nowhere, quietly: Python's
    flush at exit must not fail again on a stream that failed."""
    with contextlib.suppress(OSError):
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, fd)
        os.close(null)


class Output:
    """fds 1 and 2 for one run, written in the background (`BackgroundWriter`): the first
    write that fails stops the run (`on_failure`), and that descriptor is written no more;
    `status()` says how orch then ends. A `Paced` sink's `behind` and `drain` for the sinks
    that write here, which stop pacing once `stopping()` says the run is stopping."""

    def __init__(self, on_failure: Callable[[], None]) -> None:
        self._on_failure = on_failure
        self.failure: OSError | None = None
        self._dead: set[int] = set()
        self._cut: set[int] = set()  # past PILE_LIMIT while stopping: dropped from there on
        self.dropped = 0
        self._writer: BackgroundWriter | None = None  # made on the loop, at the first write
        #: Whether the run is stopping (set by the front end once its run exists).
        self.stopping: Callable[[], bool] = lambda: False
        self._hung_up = False  # the terminal's end was said (as SIGHUP)

    def write(self, fd: int, data: bytes, *, own: bool = False) -> bool:
        """Give `data` to fd 1 or 2 (never waits); False when it is dropped: that descriptor
        failed, or `PILE_LIMIT` bytes already wait for a reader while the run is stopping.
        orch's `own` words are never dropped that way."""
        if fd in self._dead:
            return False
        if self._writer is None:
            self._writer = BackgroundWriter(self._failed)
        if not own and (fd in self._cut or self._writer.pending > PILE_LIMIT and self.stopping()):
            self._cut.add(fd)
            self.dropped += len(data)
            return False
        self._writer.put(fd, data)
        return True

    def _failed(self, fd: int, exc: OSError) -> None:
        self._dead.add(fd)
        if _terminal_gone(fd, exc):  # the hang-up ends the run, with 129 (chains9: it
            if not self._hung_up:    # raced the HUP and exited 1, "I/O error"); once
                self._hung_up = True
                os.kill(os.getpid(), signal.SIGHUP)
            return
        first = self.failure is None
        self.failure = self.failure or exc
        if first:
            self._on_failure()

    def behind(self) -> bool:
        return (self._writer is not None and self._writer.pending > LOW_WATER
                and not self.stopping())

    async def drain(self) -> None:
        if self._writer is not None:
            await self._writer.below(LOW_WATER)

    async def finish(self, stopped: asyncio.Event | None) -> None:
        """Wait until everything given is written, for as long as the reader takes; once
        `stopped` is set (a stop signal: orch must end; None: it is ending on an error), only
        while the reader keeps taking some: what it leaves for `GIVE_UP` seconds is dropped.
        Output dropped on the way is then said on stderr."""
        await self._flushed(stopped)
        if self.dropped and 2 not in self._dead:
            note = (f"orch: {self.dropped:,} bytes of output were dropped: nothing read them "
                    f"while the run was stopping\n").encode()
            self.dropped = 0
            if self._writer is not None and self._writer.pending:  # given up on a reader: in
                _write_now(2, note)  # the queue, the note would wait behind what it holds
            else:
                self.write(2, note, own=True)
                await self._flushed(stopped)

    async def _flushed(self, stopped: asyncio.Event | None) -> None:
        writer = self._writer
        while writer is not None and writer.pending:
            if stopped is None or stopped.is_set():
                before = writer.written
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(writer.below(0), GIVE_UP)
                if writer.pending and writer.written == before:
                    return
                continue
            written = asyncio.ensure_future(writer.below(0))
            stop = asyncio.ensure_future(stopped.wait())
            try:
                await asyncio.wait({written, stop}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                written.cancel()
                stop.cancel()

    def status(self) -> int | None:
        """None when everything was written; EXIT_PIPE when a reader left; raises OutputError
        when a device failed."""
        if self.failure is None:
            return None
        if isinstance(self.failure, BrokenPipeError):
            return EXIT_PIPE
        raise OutputError(self.failure)


def _write_now(fd: int, note: bytes) -> None:
    """Write a short note (under PIPE_BUF: all or nothing) now if `fd` takes it without
    waiting, else not at all."""
    with contextlib.suppress(OSError):
        if select.select([], [fd], [], 0)[1]:
            os.write(fd, note)


class WritesJson(Protocol):
    """A RunResult or a FleetResult: written as JSON a piece at a time."""

    def write_json(self, out: TextIO, **kw: Any) -> None: ...


def print_json(result: WritesJson) -> None:
    """`--json`: the result as indented JSON and a newline on stdout. Its output is read and
    written a chunk at a time: memory stays bounded whatever the run printed."""
    if sys.stdout is not None:  # None: started with stdout closed (`>&-`)
        result.write_json(sys.stdout, indent=2)
        sys.stdout.write("\n")
