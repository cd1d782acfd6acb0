"""One command from launch to RunResult, in stages: launch within the deadline, pump, result.

The stop watcher runs beside the pump (see `steering.py`), stdin is fed beside both, and the
RunResult of a command is built here and nowhere else.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from ..errors import OrchError
from ..layers.base import Launcher
from ..plan import RunPlan
from ..process.command import Command
from ..process.events import Exit
from ..process.handle import ProcessHandle
from ..result import RunResult
from ..secrets.masking import get_logger, mask_text
from ..sinks.buffer import OutputBuffer
from ..stdin import StdinSource, feed_stdin
from ..text import printable
from .pipeline import OutputPipeline
from .steering import Steering

log = get_logger(__name__)


@dataclass(frozen=True)
class CommandRun:
    """One command to run: where, what, and with which output path and input."""

    plan: RunPlan
    launcher: Launcher
    command: Command
    pipeline: OutputPipeline
    step: str | None = None  # None for the main command, "pre" / "post" for steps
    stdin: StdinSource = None
    close_stdin: bool = True
    #: An earlier command of the run has run: one that cannot start is then a failed result
    #: (its error kept), not an exception, so the results before it and the clean-up survive.
    ran_before: bool = False


async def run_command(job: CommandRun, steering: Steering,
                      on_start: Callable[[ProcessHandle], None] | None = None) -> RunResult:
    """Launch `job.command`, stream its events through its pipeline, return its RunResult."""
    started_at, t0 = time.time(), time.monotonic()
    log.debug("launch %s in %s (%s), env keys %s", job.command.display(),
              job.plan.environment.name, job.step or "main", sorted(job.command.env))
    try:
        handle = await steering.launch(job.launcher, job.command)
    except OrchError as exc:
        job.pipeline.discard()
        if not job.ran_before:
            raise
        return _result(job, steering, Exit(error=exc), started_at, t0, chain=job.launcher.chain)
    except BaseException:
        job.pipeline.discard()
        raise
    if handle is None:  # stopped, or out of time, while still connecting
        job.pipeline.discard()
        why = "timed out" if steering.timed_out else "stopped"
        return _result(job, steering, Exit(error=OrchError(f"{why} before the process started")),
                       started_at, t0, chain=job.launcher.chain)
    if on_start is not None:
        on_start(handle)
    exit_event = await _pump(job, handle, steering)
    return _result(job, steering, exit_event, started_at, t0, chain=job.launcher.chain,
                   stdin_bytes=handle.stdin.bytes_written)


async def _pump(job: CommandRun, handle: ProcessHandle, steering: Steering) -> Exit:
    """Feed stdin, deliver every event to the pipeline, and stop the process when due."""
    feeder = asyncio.ensure_future(feed_stdin(handle.stdin, job.stdin, close=job.close_stdin))
    watcher = asyncio.ensure_future(steering.watch(handle))

    def source_failed(fed: asyncio.Future[None]) -> None:  # stopped, never an EOF: see stdin.py
        if not fed.cancelled() and fed.exception() is not None:
            steering.request_stop(interrupted=False)

    feeder.add_done_callback(source_failed)
    exit_event: Exit | None = None
    try:
        async for event in handle.events():
            await job.pipeline.feed(event, steering)
            if isinstance(event, Exit):
                exit_event = event
    finally:
        if exit_event is None:  # cancelled from outside: never leave the process behind
            handle.discard_output()  # nobody reads events any more
            await asyncio.shield(handle.stop(steering.grace))
        watcher.cancel()
        exit_event = _with_stdin_failure(exit_event or Exit(error=OrchError("cancelled")), feeder)
        feeder.cancel()
    return exit_event


def _with_stdin_failure(exit_event: Exit, feeder: asyncio.Future[None]) -> Exit:
    """A stdin source that broke part-way means the run did not get what was asked."""
    error = feeder.exception() if feeder.done() and not feeder.cancelled() else None
    if error is not None:  # its type and words, never its repr: a UnicodeDecodeError's holds
        # the whole buffer it could not decode (the input, in every cause and audit record)
        said = printable(mask_text(str(error)))  # masked before the cut (safety23: 12 of a
        said = f"{said[:200]}…" if len(said) > 200 else said  # secret's 32 characters showed)
        return exit_event.failing(OrchError(f"stdin source failed: {type(error).__name__}"
                                            + (f": {said}" if said else "")))
    return exit_event


def _with_unkept(exit_event: Exit, buffers: Mapping[str, OutputBuffer | None]) -> Exit:
    """Output the result could not keep (its spill file took no more) means the run did not
    give what was asked, though the process ran on to its end."""
    said = [f"{name} {b.unkept}" for name, b in buffers.items() if b is not None and b.unkept]
    if said:
        return exit_event.failing(OrchError(f"the result is incomplete: {'; '.join(said)}"))
    return exit_event


def _result(job: CommandRun, steering: Steering, exit_event: Exit, started_at: float, t0: float,
            *, chain: str, stdin_bytes: int = 0) -> RunResult:
    main = job.step is None
    timed_out = steering.timed_out and not steering.ended_in_time
    ok = (exit_event.code == 0 and exit_event.error is None and not timed_out
          and not steering.interrupted)
    output_file = job.pipeline.finish(ok)
    stdout, stderr = job.pipeline.buffers()
    exit_event = _with_unkept(exit_event, {"stdout": stdout, "stderr": stderr,
                                           "unfiltered stdout": job.pipeline.raw_stdout})
    log.debug("%s ended: %s", job.command.display(), exit_event.describe())
    return RunResult(
        environment=job.plan.environment.name,
        service=job.plan.service.name if job.plan.service else None,
        command=job.command.display(),
        chain=chain,
        exit=exit_event,
        duration=time.monotonic() - t0,
        started_at=started_at,
        stdout_buffer=stdout,
        stderr_buffer=stderr,
        timed_out=timed_out and main,
        interrupted=steering.interrupted and not timed_out,
        step=job.step,
        stdin_bytes=stdin_bytes,
        raw_stdout_buffer=job.pipeline.raw_stdout,
        output_file=output_file,
        partial_file=job.pipeline.partial_file(),
        timeout=steering.timeout if main else None,
    )
