"""LiveRun: a run in flight on the background loop, steerable from any thread."""

from __future__ import annotations

import asyncio
import concurrent.futures
import time
from typing import Any

from ._loop import BackgroundLoop
from .errors import OrchError, RunInterrupted
from .plan import RunPlan
from .process.handle import ProcessHandle
from .result import RunResult
from .runner import RunControl


class LiveRun:
    """A handle on a run that is (or was) executing: send stdin, stop it, get its result.

    Thread-safe: every method may be called from the notebook's main thread or a widget callback.
    """

    def __init__(self, plan: RunPlan, loop: BackgroundLoop, control: RunControl,
                 future: concurrent.futures.Future[RunResult], name: str | None = None) -> None:
        self.plan = plan
        self.name = name
        self._loop = loop
        self._control = control
        self._future = future
        self.started_at = time.time()

    # ---- state ---------------------------------------------------------------------------
    @property
    def handle(self) -> ProcessHandle | None:
        return self._control.handle

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
        exc = self._future.exception()
        if exc is not None:
            return "failed"
        res = self._future.result()
        if res.timed_out:
            return "timed out"
        if res.interrupted:
            return "stopped"
        return "exited" if res.ok else "failed"

    # ---- stdin ---------------------------------------------------------------------------
    def send(self, data: str | bytes) -> None:
        """Send text/bytes to the process's stdin as is.

        Raises OrchError when the run has ended or EOF was already sent: input is never
        dropped silently.
        """
        self._check_stdin()
        self._on_loop(lambda h: h.stdin.write(data))

    def send_line(self, line: str) -> None:
        """Send one line (newline added); raises like `send`."""
        self._check_stdin()
        self._on_loop(lambda h: h.stdin.write_line(line))

    def close_stdin(self) -> None:
        """Send EOF (nothing to do once the run has ended)."""
        self._on_loop(lambda h: h.stdin.close())

    def _check_stdin(self) -> None:
        handle = self.handle
        if self._future.done():
            raise OrchError(f"{self!r} has ended: its stdin is gone")
        if handle is not None and handle.stdin.closed:
            raise OrchError(f"{self!r}: stdin is closed (EOF was sent)")

    # ---- stopping ------------------------------------------------------------------------
    def interrupt(self) -> None:
        """Stop the process with the INT → TERM → KILL ladder; output so far is kept."""
        self._loop.call(self._control.request_stop)

    stop = interrupt

    def kill(self) -> None:
        def kill(handle: ProcessHandle) -> None:
            handle.stdin.cancel()
            _spawn(handle.kill())

        self._on_loop(kill)

    # ---- results -------------------------------------------------------------------------
    def wait(self, timeout: float | None = None) -> RunResult:
        """Block until the run ends; Ctrl-C interrupts the process and raises RunInterrupted."""
        try:
            return self._future.result(timeout)
        except KeyboardInterrupt:
            self.interrupt()
            try:
                result = self._future.result()
            except KeyboardInterrupt:  # a second Ctrl-C: kill at once
                self.kill()
                result = self._future.result()
            raise RunInterrupted(result) from None

    def result(self) -> RunResult | None:
        """The RunResult when finished, else None (never blocks)."""
        if not self._future.done():
            return None
        return self._future.result()

    def exception(self) -> BaseException | None:
        return self._future.exception() if self._future.done() else None

    def _on_loop(self, fn: Any) -> None:
        """Run fn(handle) on the loop, after the process has started (calls keep their order)."""
        control = self._control

        async def call() -> None:
            if control.handle is None:  # wait for the start, or for a run that never starts
                started: asyncio.Future[Any] = asyncio.ensure_future(control.started.wait())
                ended: asyncio.Future[Any] = asyncio.wrap_future(self._future)
                await asyncio.wait({started, ended}, return_when=asyncio.FIRST_COMPLETED)
                started.cancel()
                if ended.done() and not ended.cancelled():
                    ended.exception()  # seen here; the caller of wait() gets it too
            if control.handle is not None and control.handle.running:
                fn(control.handle)

        self._loop.submit(call())

    def __repr__(self) -> str:
        label = self.name or self.plan.name
        return f"<LiveRun {label} in {self.plan.environment.name}: {self.state}>"


def _spawn(coro: Any) -> None:
    asyncio.ensure_future(coro)
