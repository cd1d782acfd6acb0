"""LiveRun: a run in flight on the background loop, steerable from any thread."""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import inspect
import threading
import time
from collections.abc import Callable
from typing import Any

from ._loop import BackgroundLoop, refuse_on_loop, result_of, room_waited, settled, started
from .engine import Run
from .errors import LayerError, OrchError, ProcessLeft, RunInterrupted
from .keywords import keywords_checked
from .plan import RunPlan
from .process.handle import ProcessHandle, signal_number
from .process.stdin_writer import Pace, as_bytes
from .result import RunResult
from .sinks.file import FileProgress

#: Told how a run ended: its result, or the error that kept it from having one.
Ended = Callable[[RunResult | None, BaseException | None], None]


@keywords_checked
class LiveRun:
    """A handle on a run that is (or was) executing: send stdin, stop it, get its result.

    Thread-safe: every method may be called from the notebook's main thread or a widget callback.
    """

    def __init__(self, run: Run, loop: BackgroundLoop, name: str | None = None) -> None:
        self._run = run
        self.plan: RunPlan = run.plan
        self.name = name
        self._loop = loop
        self._future: concurrent.futures.Future[RunResult] = loop.submit(run.wait())
        self.started_at = time.time()
        self._last_call: concurrent.futures.Future[None] | None = None  # see _on_loop
        self._calls = threading.Lock()
        self._pace = Pace()  # when a send looks whether its input waits to be read
        #: EOF is sent or on its way (close_stdin, or given at the start): what `send` refuses
        #: even while the process is still starting, when its handle cannot say so yet.
        self._eof = run.options.closes_stdin(run.plan.stdin_mode)

    # ---- state ---------------------------------------------------------------------------
    @property
    def handle(self) -> ProcessHandle | None:
        return self._run.handle

    @property
    def stdin_bytes(self) -> int:
        """The bytes the process took on stdin so far (0 before it started)."""
        handle = self.handle
        return handle.stdin.bytes_written if handle is not None else 0

    @property
    def progress(self) -> FileProgress | None:
        """For stdout_mode: file, the output file's bytes, rate and state (else None)."""
        return self._run.progress

    @property
    def audit_id(self) -> str | None:
        """The id of this run's records in the audit log (None when auditing is off)."""
        return self._run.audit_id

    @property
    def lines(self) -> list[str]:
        """stdout lines so far (all of them once the run has ended)."""
        result = self.result() if self.done and self.exception() is None else None
        if result is not None:
            return result.lines

        async def snapshot() -> list[str]:
            capture = self._run.capture
            return list(capture.stdout.iter_lines()) if capture is not None else []

        if self._loop.in_loop_thread:
            raise OrchError("LiveRun.lines is for other threads; on the loop, await outcome()")
        return self._loop.submit(snapshot()).result()

    @property
    def pid(self) -> int | None:
        return self.handle.pid if self.handle else None

    @property
    def done(self) -> bool:
        return self._future.done()

    @property
    def state(self) -> str:
        if not self._future.done():
            return "running" if self.handle is not None else "starting"
        if self._future.exception() is not None:
            return "failed"
        res = self._future.result()
        if res.timed_out:
            return "timed out"
        if res.interrupted:  # and ended by it: a stop that could not end it did not stop it
            return "failed" if isinstance(res.error, ProcessLeft) else "stopped"
        return "exited" if res.ok else "failed"

    async def until_started(self) -> None:
        """On the loop: return once the process has started, or the run ended without it."""
        await self._run.until_started()

    def unstarted(self, error: BaseException) -> RunResult:
        """The result of this run when it raised `error` before anything started (a hop
        unreachable): for `--no-raise-error`, `--out` and the status line's audit id."""
        return self._run.unstarted(error)

    def when_done(self, callback: Ended) -> None:
        """Call `callback(result, None)`, or `callback(None, error)` for a run that broke before
        it had a result, once the run has ended (on the loop's thread: keep it short)."""

        def done(future: concurrent.futures.Future[RunResult]) -> None:
            error = future.exception() if not future.cancelled() else OrchError("cancelled")
            callback(None if error is not None else future.result(), error)

        self._future.add_done_callback(done)

    # ---- stdin ---------------------------------------------------------------------------
    def send(self, data: str | bytes, *, wait: bool = True) -> None:
        """Send text/bytes to the process's stdin as is. Once about 16 MiB sent wait to be
        read, the caller waits, as a pipe's writer does (a Ctrl-C ends the wait, not the
        run); `wait=False` queues and returns at once (the stdin box: a line typed never
        holds the kernel).

        Raises OrchError when the run has ended or EOF was already sent: input is never
        dropped silently. (That the process closed its stdin is known only without a remote
        layer: behind one the far end takes the input and drops it, as `ssh host cmd` does.)
        """
        payload = as_bytes(data)  # checked and copied in the caller's thread
        self._check_stdin()
        self._queued(payload, wait)

    def send_line(self, line: str) -> None:
        """Send one line (newline added); raises like `send`."""
        if not isinstance(line, str):
            raise TypeError(f"send_line() takes str, got {type(line).__name__}")
        self._check_stdin()
        self._queued(as_bytes(line if line.endswith("\n") else line + "\n"), True)

    def _queued(self, payload: bytes, wait: bool) -> None:
        """Hand `payload` to the process's stdin, in order with the other calls; when `wait`
        and its pace is due, wait for room (`StdinWriter.room`) outside that order (review38:
        a signal or EOF waited behind it)."""
        call = self._on_loop(lambda h: h.stdin.write(payload))
        if wait and not self._loop.in_loop_thread and self._pace.due(len(payload)):
            room_waited(self._loop.submit(self._room(call)),
                        f"{self.name or self.plan.name} in {self.plan.environment.name}",
                        len(payload))

    async def _room(self, queued: concurrent.futures.Future[None]) -> None:
        await asyncio.wrap_future(queued)  # its bytes are in the writer's queue by now
        handle = self._run.handle
        if handle is not None and handle.running:
            await handle.stdin.room()

    def close_stdin(self) -> None:
        """Send EOF (nothing to do once the run has ended)."""
        self._eof = True
        self._on_loop(lambda h: h.stdin.close())

    def _gone(self) -> str:
        """Where the input meant for this ended run can go instead (a named run's next
        attempt), said after "has ended"."""
        return ""

    def _check_stdin(self) -> None:
        handle = self.handle
        said = f"{self.name or self.plan.name} in {self.plan.environment.name}"  # browser19:
        if self._future.done():  # a repr, `<NamedRun … pid 1970, log …>`, reached the box
            raise OrchError(f"{said} has ended: its stdin is gone{self._gone()}")
        if self._eof or handle is not None and handle.stdin.closed:
            raise OrchError(f"{said}: stdin is closed (EOF was sent)")
        if handle is not None and handle.stdin.broken is not None:  # it stopped reading
            raise OrchError(f"{said}: the process no longer reads its stdin (it closed it); "
                            f"this input was not sent")

    # ---- stopping ------------------------------------------------------------------------
    def interrupt(self, *, again: bool = False) -> None:
        """Stop the process with the INT → TERM → KILL ladder; output so far is kept. `again`:
        a person asks once more (see `Run.stop`): its clean-up is skipped, or ended."""
        self._loop.call(functools.partial(self._run.stop, again=again))

    stop = interrupt

    def kill(self) -> None:
        """SIGKILL the process now."""
        self._loop.submit(self._run.kill())

    def send_signal(self, sig: int | str) -> None:
        """Signal the command's process group at the end of the chain (a number or a name in
        any case: `"USR1"`, `"sighup"`); a command that handles it goes on. ValueError, in the
        caller's thread, for a signal this system does not have."""
        number = signal_number(sig)
        self._on_loop(lambda h: h.send_signal(number))

    # ---- results -------------------------------------------------------------------------
    def wait(self, timeout: float | None = None, *,
             tick: Callable[[], None] | None = None) -> RunResult:
        """Block until the run ends; Ctrl-C interrupts the process and raises RunInterrupted.
        `tick()` is called every 0.1 s meanwhile, also while a Ctrl-C's stop goes on (a
        view's clock, and its `stopping…`)."""
        try:
            return result_of(self._future, timeout, f"run {self.name or self.plan.name} in "
                                                    f"{self.plan.environment.name}", tick)
        except KeyboardInterrupt:
            self.interrupt()
            try:
                result = result_of(self._future, tick=tick)
            except KeyboardInterrupt:  # a second Ctrl-C: kill at once
                self.kill()
                result = result_of(self._future)
            raise RunInterrupted(result) from None

    @property
    def stopping(self) -> bool:
        """A stop was asked for (or its time is up) and the run has not ended yet."""
        return not self.done and self._run.stopping()

    async def outcome(self) -> RunResult:
        """The RunResult, awaited on the background loop (for code running there)."""
        return await self._run.wait()

    def settle(self, timeout: float | None = None) -> None:
        """Wait up to `timeout` for the end, whatever it is (for shutting down)."""
        settled(self._future, timeout)

    def result(self) -> RunResult | None:
        """The RunResult when finished, else None (never blocks). A run that could not start
        has one too (no exit status, its `error`; `exception()` is that error)."""
        if not self._future.done():
            return None
        error = self._future.exception()
        if isinstance(error, LayerError) and error.result is not None:
            return error.result
        return self._future.result()

    def exception(self) -> BaseException | None:
        return self._future.exception() if self._future.done() else None

    def _on_loop(self, fn: Callable[[ProcessHandle], Any]) -> concurrent.futures.Future[None]:
        """Run fn(handle) on the loop, after the process has started, in the order of the
        calls: each waits for the one before (lines sent while the process starts were
        written after the lines sent just after it had started)."""
        run = self._run

        async def call(before: concurrent.futures.Future[None] | None) -> None:
            if before is not None and not before.done():
                await asyncio.wait([asyncio.wrap_future(before)])
            await run.until_started()
            if run.handle is not None and run.handle.running:
                done = fn(run.handle)
                if inspect.isawaitable(done):
                    await done

        with self._calls:
            self._last_call = self._loop.submit(call(self._last_call))
            return self._last_call

    def __repr__(self) -> str:
        label = self.name or self.plan.name
        return f"<LiveRun {label} in {self.plan.environment.name}: {self.state}>"


def begun(loop: BackgroundLoop, begin: Callable[[], Run], track: Callable[[LiveRun], None]
          ) -> LiveRun:
    """The LiveRun of the run `begin()` starts on `loop`, `track`ed; a Ctrl-C while it starts
    stops it and raises RunInterrupted with its result, as once it runs. One that comes as
    it is handed to the loop (magics15: the loop woken, the interrupt raised on the way back)
    either keeps it from beginning at all, or is that: it had begun, and is stopped."""
    holder: concurrent.futures.Future[Run] = concurrent.futures.Future()

    def on_loop() -> None:
        if holder.set_running_or_notify_cancel():  # not given up before it could begin
            try:
                holder.set_result(begin())
            except BaseException as exc:  # the caller's to hear, as `begin` raised it
                holder.set_exception(exc)

    refuse_on_loop("starting a run")
    handed = False
    try:
        loop.call(on_loop)
    except KeyboardInterrupt:
        if holder.cancel():  # it will not begin: nothing started
            raise
        handed = True
    run, interrupted = started(holder)
    live = LiveRun(run, loop)
    track(live)
    if interrupted or handed:
        live.interrupt()
        raise RunInterrupted(live.wait())
    return live
