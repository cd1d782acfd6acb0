"""The Orchestrator: the Python API over config, plans, layers and sinks.

One async core (`launch`, `arun`) runs on the caller's loop; the sync facade (`run`, `start`)
runs the same core on a private background loop, which also keeps pooled connections alive.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Mapping, Sequence
from typing import Any

from ._loop import BackgroundLoop, background_loop
from .config.loader import load_config
from .config.model import Config
from .layers.base import LaunchContext
from .layers.local import LocalLauncher
from .lifecycle import Entry, RunInfo, RunRegistry
from .live import LiveRun
from .plan import RunPlan, make_plan
from .process.handle import ProcessHandle
from .result import RunResult
from .runner import RunControl, execute
from .secrets.placeholders import Resolver
from .sinks.base import Sink
from .sinks.ring import RingBuffer
from .stdin import StdinSource


class Orchestrator:
    """Runs services and commands in the environments of a Config."""

    def __init__(self, config: Config | None = None, *, resolver_factory: Any = None) -> None:
        self._config = config
        self._resolver_factory = resolver_factory or Resolver
        self._contexts: dict[asyncio.AbstractEventLoop, LaunchContext] = {}
        self._bg: BackgroundLoop | None = None
        self.runs = RunRegistry()

    # ---- configuration ----------------------------------------------------------------------
    @property
    def config(self) -> Config:
        if self._config is None:
            self._config = load_config()
        return self._config

    def load(self, *files: str | os.PathLike[str]) -> Config:
        """Replace the configuration (files found automatically when none are given)."""
        self._config = load_config(*files)
        return self._config

    def plan(self, environment: str, service: str | None = None, *,
             command: str | Sequence[str] | None = None, env: Mapping[str, str] | None = None,
             cwd: str | None = None, stdin_mode: Any = None, tty: bool | None = None) -> RunPlan:
        """Resolve a run without starting it (what `--dry-run` shows)."""
        return make_plan(self.config, environment, service, command=command, env=env, cwd=cwd,
                         resolver=self._resolver_factory(), stdin_mode=stdin_mode, tty=tty)

    # ---- async core -------------------------------------------------------------------------
    def _context(self) -> LaunchContext:
        loop = asyncio.get_running_loop()
        ctx = self._contexts.get(loop)
        if ctx is None:
            ctx = self._contexts[loop] = LaunchContext()
        return ctx

    def launcher_for(self, plan: RunPlan) -> Any:
        """The built layer chain for a plan (on the running loop's pooled context)."""
        return plan.executor(LocalLauncher(self._context())).build()

    async def launch(self, environment: str, service: str | None = None, *,
                     command: str | Sequence[str] | None = None,
                     env: Mapping[str, str] | None = None, cwd: str | None = None,
                     tty: bool | None = None) -> ProcessHandle:
        """Start the main command and return its live handle (pre/post commands are not run)."""
        plan = self.plan(environment, service, command=command, env=env, cwd=cwd, tty=tty)
        handle = await self.launcher_for(plan).launch(plan.command)
        if plan.stdin_mode == "none":
            handle.stdin.close()
        return handle

    async def arun(self, environment: str, service: str | None = None, *,
                   command: str | Sequence[str] | None = None, stdin: StdinSource = None,
                   timeout: float | None = None, env: Mapping[str, str] | None = None,
                   cwd: str | None = None, sinks: Sequence[Sink] = (),
                   plan: RunPlan | None = None, control: RunControl | None = None,
                   close_stdin: bool = True) -> RunResult:
        """Run to the end on the current loop and return the RunResult."""
        plan = plan or self.plan(environment, service, command=command, env=env, cwd=cwd)
        return await execute(plan, self.launcher_for(plan), sinks=sinks, stdin=stdin,
                             timeout=timeout, control=control, close_stdin=close_stdin)

    # ---- sync facade ------------------------------------------------------------------------
    @property
    def loop(self) -> BackgroundLoop:
        if self._bg is None:
            self._bg = background_loop()
        return self._bg

    def spawn(self, environment: str, service: str | None = None, *,
              command: str | Sequence[str] | None = None, stdin: StdinSource = None,
              close_stdin: bool | None = None, timeout: float | None = None,
              env: Mapping[str, str] | None = None, cwd: str | None = None,
              sinks: Sequence[Sink] = (), plan: RunPlan | None = None) -> LiveRun:
        """Start a run on the background loop and return at once with a LiveRun (unnamed).

        stdin stays open for `LiveRun.send` unless a `stdin` source is given or the service's
        stdin_mode is `none`.
        """
        plan = plan or self.plan(environment, service, command=command, env=env, cwd=cwd)
        if close_stdin is None:
            close_stdin = stdin is not None or plan.stdin_mode == "none"

        async def make_control() -> RunControl:
            return RunControl()

        control = self.loop.submit(make_control()).result()
        future = self.loop.submit(self.arun(environment, plan=plan, stdin=stdin,
                                            timeout=timeout, sinks=sinks, control=control,
                                            close_stdin=close_stdin))
        return LiveRun(plan, self.loop, control, future)

    # ---- named background runs ------------------------------------------------------------
    def start(self, environment: str, service: str | None = None, *,
                    command: str | Sequence[str] | None = None, name: str | None = None,
                    sinks: Sequence[Sink] = (), **kw: Any) -> LiveRun:
        """Start a background run under a name (default: the service's) for ps/logs/stop."""
        base = name or service or "command"
        name = name or self.runs.new_name(base)
        ring = RingBuffer()

        def launch() -> LiveRun:
            return self.spawn(environment, service, command=command, sinks=[ring, *sinks], **kw)

        live = launch()
        live.name = name
        self.runs.add(name, Entry(live, ring, launch))
        return live

    def ps(self) -> list[RunInfo]:
        """Named runs: name, environment, service, state, pid, elapsed, exit."""
        return self.runs.ps()

    def logs(self, name: str, tail: int | None = None) -> str:
        """The kept output (last lines) of a named run."""
        return "\n".join(self.runs.get(name).logs.tail(tail))

    def status(self, name: str) -> LiveRun:
        return self.runs.get(name).run

    def stop(self, name: str, timeout: float | None = 30) -> RunResult:
        """Stop a named run (INT → TERM → KILL) and return its result."""
        live = self.runs.get(name).run
        live.interrupt()
        return live.wait(timeout)

    def restart(self, name: str) -> LiveRun:
        entry = self.runs.get(name)
        if not entry.run.done:
            self.stop(name)
        entry.logs.lines.clear()
        entry.run = entry.restart()
        entry.run.name = name
        entry.restarts += 1
        return entry.run

    def run(self, environment: str, service: str | None = None, *,
            command: str | Sequence[str] | None = None, stdin: StdinSource = None,
            timeout: float | None = None, env: Mapping[str, str] | None = None,
            cwd: str | None = None, sinks: Sequence[Sink] = ()) -> RunResult:
        """Run to the end and return the RunResult (blocks; Ctrl-C stops the whole chain).

        stdin is sent then closed (EOF); without it the process sees EOF at once.
        """
        live = self.spawn(environment, service, command=command, stdin=stdin, close_stdin=True,
                          timeout=timeout, env=env, cwd=cwd, sinks=sinks)
        return live.wait()

    # ---- lifetime ---------------------------------------------------------------------------
    async def aclose(self) -> None:
        """Close pooled connections of the current loop."""
        ctx = self._contexts.pop(asyncio.get_running_loop(), None)
        if ctx is not None:
            await ctx.aclose()

    def close(self) -> None:
        """Close every pooled connection (on every loop this orchestrator used)."""
        for loop, ctx in list(self._contexts.items()):
            if loop.is_closed() or not loop.is_running():
                continue
            if self._bg is not None and loop is self._bg.loop:
                self._bg.submit(ctx.aclose()).result(timeout=10)
            self._contexts.pop(loop, None)

    def __enter__(self) -> Orchestrator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
