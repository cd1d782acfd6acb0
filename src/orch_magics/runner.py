"""Executing a plan: pre commands, the main command with its sinks, post commands.

One async function drives a run from launch to RunResult; front ends (API, CLI, magics) only
choose the sinks, the stdin source and how to wait.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence

from .layers.base import Launcher
from .plan import PlannedStep, RunPlan
from .process.command import Command
from .process.events import Exit
from .process.handle import STOP_GRACE, ProcessHandle
from .result import RunResult
from .sinks.base import Sink
from .sinks.capture import Capture
from .stdin import StdinSource, feed_stdin


class RunControl:
    """How the outside steers a run in flight: the live handle, and a stop request."""

    def __init__(self) -> None:
        self.handle: ProcessHandle | None = None
        self.stop_requested = asyncio.Event()
        self.started = asyncio.Event()
        self.grace: tuple[float, float] = STOP_GRACE
        self.timed_out = False
        self.interrupted = False

    def request_stop(self, *, interrupted: bool = True) -> None:
        self.interrupted = self.interrupted or interrupted
        self.stop_requested.set()


async def run_command(
    launcher: Launcher,
    command: Command,
    *,
    plan: RunPlan,
    sinks: Sequence[Sink] = (),
    stdin: StdinSource = None,
    close_stdin: bool = True,
    timeout: float | None = None,
    control: RunControl | None = None,
    step: str | None = None,
    on_handle: Callable[[ProcessHandle], None] | None = None,
) -> RunResult:
    """Launch one command, stream its events into `sinks` plus a Capture, return its result."""
    control = control or RunControl()
    capture = Capture()
    all_sinks: list[Sink] = [capture, *sinks]
    started_at = time.time()
    t0 = time.monotonic()
    handle = await launcher.launch(command)
    if step is None:
        control.handle = handle
        control.started.set()
    if on_handle is not None:
        on_handle(handle)
    feeder = asyncio.ensure_future(feed_stdin(handle.stdin, stdin, close=close_stdin))
    deadline = None if timeout is None else t0 + timeout
    stopper: asyncio.Task[Exit] | None = None
    exit_event: Exit | None = None
    stop_wait = asyncio.ensure_future(control.stop_requested.wait())
    events = handle.events().__aiter__()
    try:
        while True:
            next_event = asyncio.ensure_future(events.__anext__())
            while True:
                wait_for: float | None = None
                if deadline is not None and stopper is None:
                    wait_for = max(0.0, deadline - time.monotonic())
                watch = {next_event} if stopper is not None else {next_event, stop_wait}
                done, _ = await asyncio.wait(watch, timeout=wait_for,
                                             return_when=asyncio.FIRST_COMPLETED)
                if next_event in done:
                    break
                if stopper is None:
                    if not done:  # the deadline passed
                        control.timed_out = True
                    stopper = asyncio.ensure_future(handle.stop(control.grace))
            event = next_event.result()
            for sink in all_sinks:
                sink.feed(event)
            if isinstance(event, Exit):
                exit_event = event
                break
    finally:
        stop_wait.cancel()
        if exit_event is None:  # cancelled from outside: never leave the process behind
            await asyncio.shield(handle.stop(control.grace))
        feeder.cancel()
        for sink in all_sinks[1:]:
            try:
                sink.close()
            except Exception:
                pass
    return RunResult(
        environment=plan.environment.name,
        service=plan.service.name if plan.service else None,
        command=command.display(),
        chain=handle.chain,
        exit=exit_event,
        duration=time.monotonic() - t0,
        started_at=started_at,
        stdout_buffer=capture.stdout,
        stderr_buffer=capture.stderr,
        timed_out=control.timed_out and step is None,
        interrupted=control.interrupted and not control.timed_out,
        step=step,
        stdin_bytes=handle.stdin.bytes_written,
    )


async def execute(
    plan: RunPlan,
    launcher: Launcher,
    *,
    sinks: Sequence[Sink] = (),
    stdin: StdinSource = None,
    close_stdin: bool = True,
    timeout: float | None = None,
    control: RunControl | None = None,
    step_sinks: Callable[[PlannedStep, str], Sequence[Sink]] | None = None,
) -> RunResult:
    """Run a whole plan: pre commands (stop at the first failure), main, post commands."""
    control = control or RunControl()
    timeout = timeout if timeout is not None else plan.timeout
    steps: list[RunResult] = []
    for pre in plan.pre:
        res = await run_command(launcher, pre.command, plan=plan, step="pre", control=control,
                                sinks=step_sinks(pre, "pre") if step_sinks else ())
        steps.append(res)
        if not res.ok:
            skipped = _skipped(plan, res)
            skipped.steps = steps
            return skipped
    result = await run_command(launcher, plan.command, plan=plan, sinks=sinks, stdin=stdin,
                               close_stdin=close_stdin, timeout=timeout, control=control)
    for post in plan.post:
        if post.when == "success" and not result.ok or post.when == "failure" and result.ok:
            continue
        res = await run_command(launcher, post.command, plan=plan, step="post", control=control,
                                sinks=step_sinks(post, "post") if step_sinks else ())
        steps.append(res)
    result.steps = steps
    return result


def _skipped(plan: RunPlan, failed: RunResult) -> RunResult:
    """The result of a main command that never started because a pre command failed."""
    from .sinks.buffer import OutputBuffer

    return RunResult(
        environment=plan.environment.name,
        service=plan.service.name if plan.service else None,
        command=plan.command.display(),
        chain=failed.chain,
        exit=Exit(error=RuntimeError(f"not started: pre command {failed.command!r} failed")),
        duration=0.0,
        started_at=time.time(),
        stdout_buffer=OutputBuffer(),
        stderr_buffer=OutputBuffer(),
    )
