"""Executing a plan: pre commands, the main command with its sinks, post commands.

One async function drives a run from launch to RunResult; front ends (API, CLI, magics) only
choose the sinks, the stdin source and how to wait.

The output path of one command, in this order (each step a pure event → events transform,
wrapping the stream the way Starlette's GZip middleware wraps `send`):

    process events → mask secrets → [tee: raw stdout] → filters → Capture + sinks (+ file)

so every sink (capture, display, ring buffer, log file, output file) only ever sees masked,
filtered output; `RunResult.raw_stdout_buffer` keeps the masked, unfiltered stdout when the
service has filters. Without secrets and filters no transform is built: bytes pass exactly.

Step boundaries: sinks given to `execute` may define `step_started(kind, label)` and
`step_finished(kind, label, result)` (kind: "pre", "main", "post"); both are optional and
called only for plans with pre/post commands. A step's own output goes to `step_sinks`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from typing import Any

from .errors import OrchError
from .layers.base import Launcher
from .plan import PlannedStep, RunPlan
from .process.command import Command
from .process.events import Event, Exit, Stdout
from .process.handle import STOP_GRACE, ProcessHandle
from .result import RunResult
from .secrets.masking import REGISTRY, get_logger
from .sinks.base import Sink
from .sinks.buffer import OutputBuffer
from .sinks.capture import Capture
from .sinks.file import FileProgress, FileSink, render_path
from .sinks.filters import FilterChain, apply
from .stdin import StdinSource, feed_stdin

log = get_logger(__name__)
Transform = Callable[[Event], list[Event]]


class RunControl:
    """How the outside steers a run in flight: the live handle, and a stop request."""

    def __init__(self) -> None:
        self.handle: ProcessHandle | None = None
        self.stop_requested = asyncio.Event()
        self.started = asyncio.Event()
        self.grace: tuple[float, float] = STOP_GRACE
        self.timed_out = False
        self.interrupted = False
        #: For stdout_mode: file, the progress of the output file (bytes, rate) once started.
        self.progress: FileProgress | None = None

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
    close_sinks: bool = True,
) -> RunResult:
    """Launch one command, stream its events into `sinks` plus a Capture, return its result.

    For the main command (`step` None) the plan's filters and stdout_mode apply; secrets are
    masked for every command. `close_sinks=False` leaves closing `sinks` to the caller.
    """
    control = control or RunControl()
    capture = Capture()
    all_sinks: list[Sink] = [capture, *sinks]
    transforms: list[Transform] = []
    masker = REGISTRY.stream_masker()
    if masker is not None:
        transforms.append(masker)
    raw_stdout: OutputBuffer | None = None
    file_sink: FileSink | None = None
    if step is None and plan.filters:
        raw_stdout = OutputBuffer()
        transforms.append(_tee_stdout(raw_stdout))
        transforms.append(FilterChain(plan.filters))  # compiles jq programs: fails before launch
    if step is None and plan.stdout_mode == "file":
        template = (plan.service.stdout_file if plan.service else None) or "{service}-{timestamp}.out"
        file_sink = FileSink(render_path(template, service=plan.name,
                                         env=plan.environment.name))
        control.progress = file_sink.progress
    started_at = time.time()
    t0 = time.monotonic()
    log.debug("launch %s in %s (%s), env keys %s", command.display(), plan.environment.name,
              step or "main", sorted(command.env))
    try:
        handle = await _launch(launcher, command, control,
                               None if timeout is None else t0 + timeout)
    except BaseException:
        if file_sink is not None:
            file_sink.discard()
        raise
    if handle is None:  # stopped, or out of time, while still connecting
        return RunResult(
            environment=plan.environment.name,
            service=plan.service.name if plan.service else None,
            command=command.display(), chain=launcher.chain,
            exit=Exit(error=OrchError(
                "timed out before the process started" if control.timed_out
                else "stopped before the process started")),
            duration=time.monotonic() - t0, started_at=started_at,
            stdout_buffer=OutputBuffer(), stderr_buffer=OutputBuffer(),
            timed_out=control.timed_out and step is None,
            interrupted=control.interrupted and not control.timed_out, step=step)
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
            for out in apply(transforms, event) if transforms else (event,):
                if file_sink is not None and type(out) is Stdout:
                    file_sink.feed(out)
                    continue
                for sink in all_sinks:
                    sink.feed(out)
            if isinstance(event, Exit):
                exit_event = event
                break
    finally:
        stop_wait.cancel()
        if exit_event is None:  # cancelled from outside: never leave the process behind
            handle.discard_output()  # nobody reads events any more
            await asyncio.shield(handle.stop(control.grace))
        if feeder.done() and not feeder.cancelled() and feeder.exception() is not None:
            # the input we were given broke part-way: the run did not get what was asked
            problem = OrchError(f"stdin source failed: {feeder.exception()!r}")
            if exit_event is not None and exit_event.error is None:
                exit_event = Exit(exit_event.code, exit_event.signal, problem)
        feeder.cancel()
        output_file = None
        if file_sink is not None:
            ok = (exit_event is not None and exit_event.code == 0 and exit_event.error is None
                  and not control.timed_out and not control.interrupted)
            output_file = file_sink.finish(ok)
        if close_sinks:
            _close(all_sinks[1:])
    log.debug("%s ended: %s", command.display(), exit_event.describe())
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
        raw_stdout_buffer=raw_stdout,
        output_file=output_file,
    )


def _tee_stdout(buffer: OutputBuffer) -> Transform:
    """Keep a copy of stdout as it is before the filters (already masked)."""

    def tee(event: Event) -> list[Event]:
        if type(event) is Stdout:
            buffer.write(event.data)  # type: ignore[union-attr]
        return [event]

    return tee


def _close(sinks: Sequence[Any]) -> None:
    for sink in sinks:
        try:
            sink.close()
        except Exception:
            pass


def _notify(sinks: Sequence[Any], method: str, *args: Any) -> None:
    """Call an optional sink method (step_started / step_finished) where a sink has it."""
    for sink in sinks:
        fn = getattr(sink, method, None)
        if fn is not None:
            try:
                fn(*args)
            except Exception:
                log.debug("sink %r failed in %s", sink, method, exc_info=True)


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
    """Run a whole plan: pre commands (stop at the first failure), main, post commands.

    Every step's result is in `result.steps`, in the order they ran. `sinks` are closed once,
    at the very end (after the post commands).
    """
    control = control or RunControl()
    timeout = timeout if timeout is not None else plan.timeout
    if plan.stdin_mode == "none":
        # Nothing to wait for: EOF once the input given explicitly (if any) is delivered.
        close_stdin = True
    steps: list[RunResult] = []
    marks = bool(plan.pre or plan.post)

    async def run_step(step: PlannedStep, kind: str, step_control: RunControl) -> RunResult:
        _notify(sinks, "step_started", kind, step.label)
        res = await run_command(launcher, step.command, plan=plan, step=kind,
                                control=step_control,
                                sinks=step_sinks(step, kind) if step_sinks else ())
        steps.append(res)
        _notify(sinks, "step_finished", kind, step.label, res)
        return res

    try:
        for pre in plan.pre:
            res = await run_step(pre, "pre", control)
            if not res.ok:
                skipped = _skipped(plan, res)
                skipped.steps = steps
                return skipped
        if marks:
            _notify(sinks, "step_started", "main", plan.command.display())
        result = await run_command(launcher, plan.command, plan=plan, sinks=sinks, stdin=stdin,
                                   close_stdin=close_stdin, timeout=timeout, control=control,
                                   close_sinks=False)
        if marks:
            _notify(sinks, "step_finished", "main", plan.command.display(), result)
        # Post commands are the clean-up: a stop request that ended the main command must not
        # kill them at birth, so they get a control of their own.
        post_control = RunControl() if plan.post else control
        for post in plan.post:
            if post.when == "success" and not result.ok or post.when == "failure" and result.ok:
                continue
            await run_step(post, "post", post_control)
        result.steps = steps
        return result
    finally:
        _close(sinks)


#: How long a launch given up on may still finish before it is cancelled (seconds).
LAUNCH_GRACE = 1.0


async def _launch(launcher: Launcher, command: Command, control: RunControl,
                  deadline: float | None) -> ProcessHandle | None:
    """Launch, unless a stop request or the deadline comes first (connecting can hang).

    None means it was given up; a handle that still arrives is stopped, never left running.
    """
    if control.stop_requested.is_set():
        return None
    launching = asyncio.ensure_future(launcher.launch(command))
    stop_wait = asyncio.ensure_future(control.stop_requested.wait())
    wait_for = None if deadline is None else max(0.0, deadline - time.monotonic())
    try:
        done, _ = await asyncio.wait({launching, stop_wait}, timeout=wait_for,
                                     return_when=asyncio.FIRST_COMPLETED)
    except BaseException:
        launching.cancel()
        raise
    finally:
        stop_wait.cancel()
    if launching in done:
        return launching.result()
    if not done:
        control.timed_out = True
    try:
        # A launch that is nearly there may finish: cancelling asyncio's subprocess creation
        # half-way can hang for ever (it waits for a child's exit it never sees), so only a
        # launch still pending after a moment (a hung connect) is cancelled.
        late = await asyncio.wait_for(asyncio.shield(launching), LAUNCH_GRACE)
    except asyncio.TimeoutError:
        launching.cancel()
        try:
            late = await launching
        except BaseException:  # cancelled, or failed anyway: nothing is running
            return None
    except Exception:  # the launch failed anyway: nothing is running
        return None
    late.discard_output()
    await late.stop(control.grace)
    return None


def _skipped(plan: RunPlan, failed: RunResult) -> RunResult:
    """The result of a main command that never started because a pre command failed."""
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
