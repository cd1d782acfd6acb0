"""Run: one plan in flight on an event loop — pre commands, the command, post commands.

The Orchestrator creates it (the only caller); the caller keeps it to steer the run (`stop`,
`kill`, the live `handle`) and awaits `wait()` for the RunResult. Nothing is written into
objects the caller passed in: state flows out through this handle and the result.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Sequence

from ..errors import LayerError, OrchError
from ..layers.base import Launcher
from ..plan import PlannedStep, RunPlan
from ..process.handle import ProcessHandle
from ..result import RunResult, not_started, unstarted
from ..sinks.base import Sink, StepAware, StepKind
from ..sinks.capture import Capture
from ..sinks.file import FileProgress, check_target
from .command import CommandRun, run_command
from .options import RunOptions
from .pipeline import OutputPipeline, SinkGuard, stdout_path
from .steering import Steering


class Run:
    """A run in flight. Create it on the loop it runs on; every method is for that loop."""

    def __init__(self, plan: RunPlan, launcher: Launcher, options: RunOptions) -> None:
        self.plan = plan
        self.launcher = launcher
        self.options = options
        timeout = options.timeout if options.timeout is not None else plan.timeout
        #: The steering of the step in progress: the main command's (with the run's timeout)
        #: until the post commands begin, then theirs.
        self._steering = Steering(timeout, options.grace)
        self._running: ProcessHandle | None = None  # the handle of the step in progress
        #: A stop was asked again while one was under way: the clean-up it would start next
        #: is skipped too (review40: a ■ during the main command's ladder left it to run).
        self._again = False
        #: The main command's live handle once it has started (None before, and for a run
        #: that never started).
        self.handle: ProcessHandle | None = None
        self.started = asyncio.Event()
        #: For stdout_mode: file, the output file's live numbers (bytes, rate) once it opens.
        self.progress: FileProgress | None = None
        #: The id of the run's audit records, when it is audited.
        self.audit_id: str | None = None
        #: The main command's capture while it runs (what `LiveRun.lines` reads).
        self.capture: Capture | None = None
        #: A command of this run has run: from then on one that cannot start ends as a failed
        #: result, so the run still reports what ran and runs its clean-up.
        self._ran = False
        self._guard = SinkGuard()  # a sink that raises is told no more, in any step
        self._t0 = time.monotonic()
        self._t1: float | None = None  # when it ended (`unstarted`'s duration stops there)
        self.task: asyncio.Task[RunResult] = asyncio.ensure_future(self._execute())
        self.task.add_done_callback(self._ended)
        launcher.context.stops_first(self.ended_by_stop, self.task.add_done_callback)

    # ---- steering ---------------------------------------------------------------------------
    def stop(self, *, interrupted: bool = True, again: bool = False) -> None:
        """Stop the command (INT → TERM → KILL); post commands still run, as clean-up. A stop
        while they run stops the one running and skips the rest; a stop asked `again` by a
        person (a second Stop click, a ■ in a stop's wait) while the command is being
        stopped skips them all (review41: not one a reader's exit made after a Ctrl-C)."""
        self._again = self._again or again and self._steering.requested.is_set()
        self._steering.request_stop(interrupted=interrupted)

    async def ended_by_stop(self) -> None:
        """Stop it and wait for its end (its post commands included)."""
        self.stop()
        await asyncio.wait([self.task])

    def stopping(self) -> bool:
        """A stop was asked for or the run's time is up (its command, or a post command run
        as clean-up, may still be going)."""
        return self._steering.stopping()

    async def kill(self) -> None:
        """SIGKILL the command running now (a second Ctrl-C), a post command included. A
        kill the chain cannot deliver (a paused container, a silent hop) is not raised: the
        stop under way says why the run ended (chains29: a second Ctrl-C printed a traceback)."""
        self._steering.request_stop()
        if self._running is not None:
            with contextlib.suppress(OrchError, OSError):
                await self._running.kill()

    async def resize(self, size: tuple[int, int]) -> None:
        """The user's window changed: the terminal of the step in progress follows (`tty`)."""
        if self._running is not None:
            await self._running.resize(size)

    async def until_started(self) -> None:
        """Return once the main command has started (`handle` set), or the run has ended
        without it (refused, unreachable, stopped first)."""
        if self.handle is None:
            started = asyncio.ensure_future(self.started.wait())
            await asyncio.wait({started, self.task}, return_when=asyncio.FIRST_COMPLETED)
            started.cancel()

    @property
    def done(self) -> bool:
        return self.task.done()

    async def wait(self) -> RunResult:
        """The RunResult, once every step has ended. Raises when nothing could start (a hop
        refused or unreachable): see `unstarted`."""
        return await asyncio.shield(self.task)

    def unstarted(self, error: BaseException) -> RunResult:
        """The result to show or return for this run when `wait` raised `error` (nothing
        started): no exit status, the time it tried, its audit id."""
        steering, t1 = self._steering, self._t1 or time.monotonic()
        return self._stamped(unstarted(self.plan, error, duration=t1 - self._t0,
                                       interrupted=steering.interrupted,
                                       timeout=steering.timeout))

    def _ended(self, _task: asyncio.Task[RunResult]) -> None:
        self._t1 = time.monotonic()

    # ---- the steps --------------------------------------------------------------------------
    async def _execute(self) -> RunResult:
        """Pre commands (the first failure skips the rest), main, post commands by `when`."""
        sinks = self.options.sinks
        steps: list[RunResult] = []
        try:
            if self.plan.stdout_mode == "file":  # refused before any step runs (review30)
                check_target(stdout_path(self.plan, self.options.target), self.options.kept,
                             before_pre=bool(self.plan.pre))
            for pre in self.plan.pre:
                res = await self._step(pre, "pre", self._steering)
                steps.append(res)
                if not res.ok:  # failed, or stopped / out of time while it ran
                    steering = self._steering
                    return self._stamped(not_started(
                        self.plan, res, steps, timed_out=steering.timed_out,
                        interrupted=steering.interrupted, timeout=steering.timeout))
            try:
                result = await self._main()
            except OrchError as exc:  # it could not start (its stdout_file, say) after pre
                if not steps:  # commands ran: they are reported, and the clean-up runs
                    if isinstance(exc, LayerError):  # nothing ran: the caller says so, with
                        exc.result = self.unstarted(exc)  # the result it would show
                    raise
                result = self.unstarted(exc)
            # Post commands are the clean-up: a stop that ended the main command must not kill
            # them at birth, so they are steered on their own (without the run's timeout).
            self._steering = Steering(grace=self.options.grace)
            if self._again:  # stopped twice: no clean-up wanted
                self._steering.request_stop()
            for post in self.plan.post:
                if self._steering.requested.is_set():
                    break  # stopped during the clean-up: the rest is skipped
                if post.when == "success" and not result.ok or post.when == "failure" and result.ok:
                    continue
                steps.append(await self._step(post, "post", self._steering))
            if self._steering.interrupted:  # stopped during the clean-up: the run was stopped
                result.interrupted = True  # (chains15: said as a failure, raised as a stop)
            result.steps = steps
            return self._stamped(result)
        finally:
            self._guard.close(sinks)

    def _stamped(self, result: RunResult) -> RunResult:
        result.audit_id = self.audit_id
        result.log_file = self.options.log_file
        return result

    async def _main(self) -> RunResult:
        opts, plan = self.options, self.plan
        marks = bool(plan.pre or plan.post)
        if marks:
            _started(self._guard, opts.sinks, "main", plan.command.display())
        capture = self.capture = Capture(opts.capture_limit, opts.memory) if opts.capture \
            else None
        pipeline = OutputPipeline(plan, opts.sinks, main=True, capture=capture,
                                  raw_stdout=opts.raw_stdout, target=opts.target,
                                  guard=self._guard, kept=opts.kept)
        self.progress = pipeline.file.progress if pipeline.file is not None else None
        job = CommandRun(plan, self.launcher, plan.command, pipeline, stdin=opts.stdin,
                         close_stdin=opts.closes_stdin(plan.stdin_mode), ran_before=self._ran)
        result = await run_command(job, self._steering, on_start=self._started)
        self._ran = True
        if marks:
            _finished(self._guard, opts.sinks, "main", plan.command.display(), result)
        return result

    def _started(self, handle: ProcessHandle) -> None:
        self.handle = self._running = handle
        self.started.set()

    def _step_started(self, handle: ProcessHandle) -> None:
        self._running = handle

    async def _step(self, step: PlannedStep, kind: StepKind, steering: Steering) -> RunResult:
        sinks = self.options.sinks
        _started(self._guard, sinks, kind, step.label)
        own = self.options.sinks_of_step(step, kind)
        pipeline = OutputPipeline(self.plan, own, main=False, capture=Capture(),
                                  guard=self._guard)
        res = await run_command(CommandRun(self.plan, self.launcher, step.command, pipeline,
                                           step=kind, ran_before=self._ran),
                                steering, on_start=self._step_started)
        self._ran = True
        _finished(self._guard, sinks, kind, step.label, res)
        return res


def _started(guard: SinkGuard, sinks: Sequence[Sink], kind: StepKind, label: str) -> None:
    for sink in guard.live(sinks):
        if isinstance(sink, StepAware):
            try:
                sink.step_started(kind, label)
            except Exception as exc:
                guard.failed(sink, exc)


def _finished(guard: SinkGuard, sinks: Sequence[Sink], kind: StepKind, label: str,
              result: RunResult) -> None:
    for sink in guard.live(sinks):
        if isinstance(sink, StepAware):
            try:
                sink.step_finished(kind, label, result)
            except Exception as exc:
                guard.failed(sink, exc)
