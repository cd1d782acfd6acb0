"""`orch run`: stdin from fd 0, output to fds 1 and 2 as it arrives, the process's exit status.

Every stdout_mode but `file` writes stdout to fd 1: for `capture` ("kept in the result only")
this command's stdout is the result, redirected or piped where the user wants it; hiding it
would lose it (docs/services.md).

Nothing is captured for a RunResult unless `--json` asks for one. Ctrl-C (or TERM, or a closed
terminal) stops the chain (INT → TERM → KILL), a second one kills at once, and orch exits with
128 + that signal (`interrupts.py`), whatever the reader of the output is doing; a reader that
leaves (`orch run … | head`, of stdout or of stderr) stops the run as SIGPIPE would stop a
shell pipeline's producer, and a failing device stops it with one line (`output.py`).
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import fcntl
import os
import select
import signal
import stat
import threading
from collections.abc import AsyncIterator, Iterator

from ..admission import Ticket
from ..engine import Run, RunOptions
from ..errors import OrchError
from ..orchestrator import Orchestrator
from ..plan import RunPlan
from ..process.events import Event, Stderr, Stdout
from ..process.pipes import grow_pipe
from ..result import unstarted
from ..result_words import post_failed, post_stop
from ..secrets.masking import mask_text
from ..sinks.base import Paced, Sink
from ..stdin import chunks_of
from ..text import human_size
from .interrupts import on_interrupt, stop_signals
from .output import Output, print_json
from .terminal import for_run


class FdWriter:
    """A sink writing stdout/stderr chunks to fds 1 and 2, paced by their reader (`Paced`).

    A write that fails (the reader left, a full disk) stops the run (`output.py`).

    It also remembers whether the last byte written where stderr goes (stderr, and stdout too
    when both are the same terminal or file) ended a line, so orch's own message after the run
    (`timed out …`) starts on a line of its own, not after `partial`.
    """

    def __init__(self, output: Output) -> None:
        self.output = output
        self._stdout_shares_stderr = _same_file(1, 2)
        self._line_open = False
        grow_pipe(1)  # `orch run … | wc -c`: large writes, fewer wake-ups of the reader

    def feed(self, event: Event) -> None:
        if isinstance(event, (Stdout, Stderr)) and event.data:
            fd = 1 if isinstance(event, Stdout) else 2
            if self.output.write(fd, event.data) and (fd == 2 or self._stdout_shares_stderr):
                self._line_open = not event.data.endswith(b"\n")

    def behind(self) -> bool:
        return self.output.behind()

    async def drain(self) -> None:
        await self.output.drain()

    def line_break(self) -> str:
        """What to print before a message on stderr so that it starts a line: "\n" or ""."""
        return "\n" if self._line_open else ""

    def close(self) -> None:
        pass

    def for_steps(self) -> StepsToStderr:
        """The pre/post commands' sink: fd 1 is where the run's result goes (`> out.json`,
        `| jq`), so their stdout goes to fd 2 with their stderr."""
        return StepsToStderr(self)


class StepsToStderr:
    """Feeds a step's output to `writer` as stderr (paced as the writer is): a run's own
    writer, or a fleet target's labelled one (fleets17: its steps' lines were on stdout)."""

    def __init__(self, writer: Sink) -> None:
        self.writer = writer

    def feed(self, event: Event) -> None:
        self.writer.feed(Stderr(event.data) if isinstance(event, Stdout) else event)

    def behind(self) -> bool:
        return isinstance(self.writer, Paced) and self.writer.behind()

    async def drain(self) -> None:
        if isinstance(self.writer, Paced):
            await self.writer.drain()

    def close(self) -> None:
        pass


def _same_file(fd: int, other: int) -> bool:
    """Whether two descriptors write to one terminal, pipe or file (`orch run … 2>&1`)."""
    try:
        return os.path.samestat(os.fstat(fd), os.fstat(other))
    except OSError:
        return False


async def stream(orch: Orchestrator, plan: RunPlan, ticket: Ticket,
                 args: argparse.Namespace) -> int:
    """Run with stdin from fd 0 and output to fds 1 and 2; Ctrl-C stops, a second one kills."""
    run: Run | None = None

    def stop() -> None:
        if run is not None:
            run.stop()

    writer = FdWriter(Output(on_failure=stop))
    sinks = [] if args.json else [writer]
    stdin = stdin_source() if takes_stdin(plan) else None
    plan, terminal = for_run(plan, stdin is not None, lambda: run)
    interrupts = on_interrupt(lambda: run)
    with terminal:  # raw for a tty run, as `ssh -t` makes it; put back however it ends
        try:  # the steps' output: the writer's `for_steps`
            run = orch.begin(plan, RunOptions(sinks=sinks, stdin=stdin, timeout=args.timeout,
                                              capture=args.json), ticket)
            writer.output.stopping = lambda: interrupts.arrived.is_set() or run.stopping()
            result = await run.wait()
        except Exception as exc:
            await writer.output.finish(None)  # what a pre step printed still goes out
            if isinstance(exc, OrchError) and args.json:  # before the process started (a hop
                interrupts.settled()  # unreachable, the audit log unwritable): said by main;
                print_json(run.unstarted(exc) if run is not None  # and, as for a fleet's
                           else unstarted(plan, exc, timeout=args.timeout))  # target, in JSON
            raise
        finally:
            await orch.aclose()
    await writer.output.finish(interrupts.arrived)
    failed = writer.output.status()
    if failed is not None:
        interrupts.over()
        return failed
    if args.json:
        interrupts.settled()
        print_json(result)
    # an error with no status, or with 0 (kinds13: a stream that broke mid-run exited 1 with
    # no word), is said; a status of its own says itself, but not a post command's failure
    failure = (result.timed_out or result.exit.error is not None and not result.exit.code
               or post_failed(result) is not None  # chains22: a Ctrl-C in the clean-up,
               or post_stop(result) is not None and result.exit.returncode is not None)
    if failure:  # after the command ended (review33: by a signal too)
        said = f"{writer.line_break()}orch: {result.describe_failure()}\n"
        writer.output.write(2, said.encode("utf-8", "backslashreplace"), own=True)
        await writer.output.finish(interrupts.arrived)
    if result.output_file is not None and run.progress is not None:  # stdout went there
        said = (f"{writer.line_break()}orch: stdout ({human_size(run.progress.bytes)}) "
                f"written to {run.progress.path}\n")
        writer.output.write(2, mask_text(said).encode("utf-8", "backslashreplace"), own=True)
        await writer.output.finish(interrupts.arrived)
    elif result.partial_file is not None and run.progress is not None and not failure:  # basics8
        said = (f"{writer.line_break()}orch: stdout so far ({human_size(run.progress.bytes)}) "
                f"kept in {result.partial_file}\n")
        writer.output.write(2, mask_text(said).encode("utf-8", "backslashreplace"), own=True)
        await writer.output.finish(interrupts.arrived)
    interrupts.over()
    return interrupts.exit_status(result.exit_status)


def takes_stdin(plan: RunPlan) -> bool:
    """Whether the run reads our stdin: unless the command takes none (`stdin_mode: none`)
    and stdin is the terminal; input piped in is delivered, then EOF (docs/services.md)."""
    return plan.stdin_mode != "none" or not os.isatty(0)


def stdin_source() -> AsyncIterator[object]:
    """Our stdin as it arrives, through the one stdin reader (`stdin.chunks_of`: a thread, so
    a blocking read never stalls the loop, started when the run first asks for input: a run
    refused before it starts leaves no reader behind). A stdin open for writing only is
    refused before anything runs, as `>&-` is for the output (chains26: read as empty),
    except /dev/null: `nohup` puts it there write-only so that reads fail, for an empty input
    (review42: every `nohup orch run` from a terminal was refused)."""
    with contextlib.suppress(OSError):
        if fcntl.fcntl(0, fcntl.F_GETFL) & os.O_ACCMODE == os.O_WRONLY:
            if _is_dev_null(0):
                return chunks_of(iter(()), threading.Event())
            raise OrchError("cannot read the input: standard input is open for writing only")
    return chunks_of(_fd0_chunks(), threading.Event())


def _is_dev_null(fd: int) -> bool:
    """Whether `fd` is the null device (its character device, however it was opened)."""
    try:
        st, null = os.fstat(fd), os.stat(os.devnull)
    except OSError:
        return False
    return stat.S_ISCHR(st.st_mode) and st.st_rdev == null.st_rdev


def _fd0_chunks() -> Iterator[bytes]:
    """Our fd 0's chunks as the kernel gives them (`… | orch run …`: up to 1 MiB from a pipe
    grown for it, not its default 64 KiB); the end of input at EOF. A terminal gone (EIO)
    stops orch as its SIGHUP would, which may come after: no EOF then. Any other read error
    (a disk's EIO, a stdin open write-only: EBADF) raises: the run stops, as when an API
    source breaks, so the command never takes none or part of an input for all of it.
    A stdin left non-blocking by a program sharing it (node, a parent's pipe) is waited on
    when empty, never taken for its end; its mode is theirs, so it is not changed."""
    grow_pipe(0)
    terminal = os.isatty(0)  # asked first: a hung-up terminal is no longer one (chains28: a
    while True:  # disk's EIO was taken for a hang-up, its input for empty)
        try:
            chunk = os.read(0, 1 << 20)
        except BlockingIOError:  # nothing yet (EAGAIN), not the end
            select.select([0], [], [])
            continue
        except OSError as exc:
            if exc.errno != errno.EIO or not terminal:
                raise
            if signal.SIGHUP in stop_signals():
                os.kill(os.getpid(), signal.SIGHUP)
                threading.Event().wait()  # the hang-up ends the run (a daemon thread waits)
            return
        if not chunk:
            return
        yield chunk
