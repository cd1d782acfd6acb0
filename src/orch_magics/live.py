"""LiveRun: a run in flight on the background loop, steerable from any thread."""

from __future__ import annotations

import concurrent.futures
import time
from typing import Any

from ._loop import BackgroundLoop
from .errors import RunInterrupted
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
        """Send text/bytes to the process's stdin as is."""
        self._on_loop(lambda h: h.stdin.write(data))

    def send_line(self, line: str) -> None:
        """Send one line (newline added)."""
        self._on_loop(lambda h: h.stdin.write_line(line))

    def close_stdin(self) -> None:
        """Send EOF."""
        self._on_loop(lambda h: h.stdin.close())

    # ---- stopping ------------------------------------------------------------------------
    def interrupt(self) -> None:
        """Stop the process with the INT → TERM → KILL ladder; output so far is kept."""
        self._loop.call(self._control.request_stop)

    stop = interrupt

    def kill(self) -> None:
        def kill(handle: ProcessHandle) -> None:
            handle.stdin._cancel()
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
            if control.handle is None:
                await control.started.wait()
            assert control.handle is not None
            fn(control.handle)

        self._loop.submit(call())

    def __repr__(self) -> str:
        label = self.name or self.plan.name
        return f"<LiveRun {label} in {self.plan.environment.name}: {self.state}>"


def _spawn(coro: Any) -> None:
    import asyncio

    asyncio.ensure_future(coro)
