"""Named background runs: start, list, read logs, stop, restart, restart policies.

A named run is a `Supervisor` on the background loop. It runs the plan once per *attempt*
(each attempt is a `NamedRun`, a `LiveRun` with the run's name, log file and restart count) and,
under `restart: on-failure` or `always`, starts the next attempt after an exponential back-off
(`RestartPolicy.delay`) until `max_restarts` is used up or someone stops it. Output of every
attempt goes to one bounded `RingBuffer` (for `logs`) and one log file per name (mode 0600,
appended; masked like every sink).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, BinaryIO, Literal

from ._loop import BackgroundLoop
from .config.suggest import did_you_mean
from .errors import OrchError
from .live import LiveRun
from .plan import RunPlan
from .process.events import Event, Stderr, Stdout
from .result import RunResult
from .runner import RunControl
from .secrets.masking import get_logger, mask_text
from .sinks.ring import RingBuffer

log = get_logger(__name__)

RestartMode = Literal["no", "on-failure", "always"]


@dataclass(frozen=True)
class RestartPolicy:
    """When a finished attempt is started again, how often, and after how long."""

    mode: RestartMode = "no"
    max_restarts: int = 5
    backoff: tuple[float, float] = (1.0, 30.0)  # first delay, longest delay (seconds)

    def should_restart(self, result: RunResult | None, restarts: int) -> bool:
        if self.mode == "no" or restarts >= self.max_restarts:
            return False
        if self.mode == "always":
            return True
        return result is None or not result.ok

    def delay(self, restarts: int) -> float:
        """Exponential back-off: first, 2×first, 4×first, … capped at the longest delay."""
        first, longest = self.backoff
        return min(first * (2 ** restarts), longest)


@dataclass(frozen=True)
class RunInfo:
    """One row of `ps`."""

    name: str
    environment: str
    service: str
    state: str
    pid: int | None
    elapsed: float
    exit: str
    restarts: int = 0
    log_file: str | None = None

    def as_row(self) -> tuple[str, ...]:
        return (self.name, self.environment, self.service, self.state,
                "" if self.pid is None else str(self.pid), f"{self.elapsed:.1f}s", self.exit)


class NamedRun(LiveRun):
    """One attempt of a named background run."""

    def __init__(self, plan: RunPlan, loop: BackgroundLoop, control: RunControl,
                 future: concurrent.futures.Future[RunResult], name: str,
                 supervisor: Supervisor, attempt: int) -> None:
        super().__init__(plan, loop, control, future, name=name)
        self.supervisor = supervisor
        self.attempt = attempt

    @property
    def log_file(self) -> str | None:
        return self.supervisor.log_file.path if self.supervisor.log_file else None

    @property
    def restarts(self) -> int:
        return self.supervisor.restarts

    @property
    def state(self) -> str:
        if self.done and self.supervisor.waiting:
            return "restarting"
        return super().state

    def __repr__(self) -> str:
        extra = f", {self.restarts} restart(s)" if self.restarts else ""
        where = f", log {self.log_file}" if self.log_file else ""
        return mask_text(f"<NamedRun {self.name} in {self.plan.environment.name}: "
                         f"{self.state}{extra}{where}>")


class LogFile:
    """Appends a run's (masked) output to a file, opened while an attempt runs.

    `close` (called by the runner after each attempt) only flushes, so attempts share it;
    the supervisor calls `shutdown` when the run is over for good, and a manual restart
    opens it again for appending.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        self._file: BinaryIO | None = None
        self._lock = threading.Lock()
        self._open()

    def _open(self) -> BinaryIO:
        if self._file is None or self._file.closed:
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            os.chmod(self.path, 0o600)
            self._file = os.fdopen(fd, "ab", buffering=0)
        return self._file

    def feed(self, event: Event) -> None:
        if isinstance(event, (Stdout, Stderr)):
            with self._lock:
                self._open().write(event.data)

    def note(self, text: str) -> None:
        """A line of our own (start, restart, stop), marked `# orch:`."""
        stamp = time.strftime("%Y-%m-%d %H:%M:%S")
        with self._lock:
            self._open().write(mask_text(f"# orch: {stamp} {text}\n").encode("utf-8"))

    def close(self) -> None:
        pass  # attempts share the file; shutdown() releases it

    def shutdown(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None


class Supervisor:
    """Runs one plan under a name, attempt after attempt, until done or stopped."""

    def __init__(self, name: str, plan: RunPlan, loop: BackgroundLoop, *,
                 execute: Callable[..., Any], ring: RingBuffer, log_file: LogFile | None,
                 policy: RestartPolicy, sinks: Sequence[Any] = (), stdin: Any = None,
                 close_stdin: bool | None = None, timeout: float | None = None,
                 restarts: int = 0) -> None:
        self.name = name
        self.plan = plan
        self.loop = loop
        self.ring = ring
        self.log_file = log_file
        self.policy = policy
        self.restarts = restarts
        self.waiting = False  # in the back-off between two attempts
        self._execute = execute
        self._sinks = list(sinks)
        self._stdin = stdin
        self._close_stdin = close_stdin
        self._timeout = timeout
        self._stopping = False
        self._stop_event: asyncio.Event | None = None
        self.finished: concurrent.futures.Future[None] = concurrent.futures.Future()
        self.run: NamedRun | None = None

    # ---- caller's thread ----------------------------------------------------------------------
    def start(self) -> NamedRun:
        async def first() -> NamedRun:
            self._stop_event = asyncio.Event()
            return self._new_attempt()

        attempt = self.loop.submit(first()).result()
        self.loop.submit(self._main(attempt))
        return attempt

    @property
    def done(self) -> bool:
        return self.finished.done()

    def request_stop(self) -> None:
        """No more restarts; stop the current attempt (INT → TERM → KILL)."""
        self._stopping = True

        def on_loop() -> None:
            if self._stop_event is not None:
                self._stop_event.set()
            if self.run is not None:
                self.run._control.request_stop()

        self.loop.call(on_loop)

    def stop(self, timeout: float | None = 30) -> RunResult | None:
        self.request_stop()
        self.finished.result(timeout)
        assert self.run is not None
        return self.run.result()

    def again(self) -> Supervisor:
        """A fresh supervisor for the same run (a manual restart), counting one more restart."""
        return Supervisor(self.name, self.plan, self.loop, execute=self._execute, ring=self.ring,
                          log_file=self.log_file, policy=self.policy, sinks=self._sinks,
                          stdin=self._stdin, close_stdin=self._close_stdin,
                          timeout=self._timeout, restarts=self.restarts + 1)

    # ---- loop thread --------------------------------------------------------------------------
    def _new_attempt(self) -> NamedRun:
        control = RunControl()
        future: concurrent.futures.Future[RunResult] = concurrent.futures.Future()
        future.set_running_or_notify_cancel()
        attempt = NamedRun(self.plan, self.loop, control, future, self.name, self,
                           attempt=self.restarts + 1)
        self.run = attempt
        return attempt

    async def _main(self, attempt: NamedRun) -> None:
        assert self._stop_event is not None
        try:
            while True:
                if self.log_file is not None:
                    self.log_file.note(f"start {self.plan.environment.name}/{self.plan.name} "
                                       f"(attempt {attempt.attempt})")
                result = await self._attempt(attempt)
                ended = result.exit.describe() if result is not None else "failed to start"
                if self._stopping or not self.policy.should_restart(result, self.restarts):
                    self._note(f"{self.name}: {ended}" + (" (stopped)" if self._stopping else ""))
                    return
                delay = self.policy.delay(self.restarts)
                self._note(f"{self.name}: {ended}; restart {self.restarts + 1}/"
                           f"{self.policy.max_restarts} in {delay:.2f}s")
                self.waiting = True
                try:
                    await asyncio.wait_for(self._stop_event.wait(), delay)
                    return  # stopped during the back-off
                except asyncio.TimeoutError:
                    pass
                finally:
                    self.waiting = False
                self.restarts += 1
                attempt = self._new_attempt()
        finally:
            self.waiting = False
            if self.log_file is not None:
                self.log_file.shutdown()  # no fd held by a finished run
            self.finished.set_result(None)

    async def _attempt(self, attempt: NamedRun) -> RunResult | None:
        stdin = self._stdin if attempt.attempt == 1 or isinstance(self._stdin, (str, bytes)) \
            else None
        close_stdin = self._close_stdin
        if close_stdin is None:
            close_stdin = stdin is not None or self.plan.stdin_mode == "none"
        # The ring buffer's close() only flushes a partial last line, and the log file's is a
        # no-op: both outlive an attempt.
        own: list[Any] = [self.ring, *([self.log_file] if self.log_file else [])]
        try:
            result = await self._execute(
                self.plan, sinks=[*own, *self._sinks], stdin=stdin, close_stdin=close_stdin,
                timeout=self._timeout, control=attempt._control,
                step_sinks=lambda step, kind: own)
        except BaseException as exc:
            attempt._future.set_exception(exc)
            if isinstance(exc, (asyncio.CancelledError, KeyboardInterrupt, SystemExit)):
                raise
            log.debug("named run %s failed to start", self.name, exc_info=True)
            self.ring.add("stderr", [f"orch: {mask_text(str(exc))}"])
            return None
        attempt._future.set_result(result)
        return result

    def _note(self, text: str) -> None:
        log.debug("%s", text)
        self.ring.add("stderr", [f"orch: {text}"])
        if self.log_file is not None:
            self.log_file.note(text)


@dataclass
class Entry:
    """A name in the registry: its supervisor, and the ring buffer it writes to."""

    supervisor: Supervisor

    @property
    def run(self) -> NamedRun:
        assert self.supervisor.run is not None
        return self.supervisor.run

    @property
    def logs(self) -> RingBuffer:
        return self.supervisor.ring

    @property
    def restarts(self) -> int:
        return self.supervisor.restarts

    @property
    def done(self) -> bool:
        return self.supervisor.done


class RunRegistry:
    """The named runs of one Orchestrator."""

    def __init__(self) -> None:
        self._entries: dict[str, Entry] = {}
        self._counter = 0
        self._lock = threading.Lock()

    def new_name(self, base: str) -> str:
        name = base
        while name in self._entries and not self._entries[name].done:
            self._counter += 1
            name = f"{base}-{self._counter}"
        return name

    def add(self, name: str, entry: Entry) -> None:
        with self._lock:
            old = self._entries.get(name)
            if old is not None and not old.done:
                raise OrchError(f"a run named {name!r} is still running; stop it first or pick "
                                "another name")
            self._entries[name] = entry

    def check_free(self, name: str) -> None:
        old = self._entries.get(name)
        if old is not None and not old.done:
            raise OrchError(f"a run named {name!r} is still running; stop it first or pick "
                            "another name")

    def get(self, name: str) -> Entry:
        entry = self._entries.get(name)
        if entry is None:
            known = ", ".join(self._entries) or "none"
            hint = did_you_mean(name, self._entries)
            extra = f" (did you mean {hint!r}?)" if hint else ""
            raise OrchError(f"no run named {name!r}{extra}; runs: {known}")
        return entry

    def names(self) -> list[str]:
        return list(self._entries)

    def entries(self) -> list[Entry]:
        return list(self._entries.values())

    def ps(self) -> list[RunInfo]:
        rows = []
        for name, entry in list(self._entries.items()):
            run = entry.run
            result = run.result() if run.done and run.exception() is None else None
            elapsed = result.duration if result else time.time() - run.started_at
            exit_text = result.exit.describe() if result else ""
            rows.append(RunInfo(
                name, run.plan.environment.name, mask_text(run.plan.name), run.state, run.pid,
                elapsed, mask_text(exit_text), entry.restarts, run.log_file))
        return rows


def follow(entry: Entry, tail: int | None = None, poll: float = 0.05) -> Iterator[str]:
    """The kept lines, then new lines as they come, until the named run is over for good."""
    ring = entry.logs
    with ring._lock:
        seen = ring.total_lines
        backlog = [line for _, line in ring.lines]
    yield from backlog if tail is None else backlog[-tail:] if tail else []
    while True:
        over = entry.done
        with ring._lock:
            total = ring.total_lines
            new = total - seen
            fresh = [line for _, line in list(ring.lines)[-new:]] if new > 0 else []
            seen = total
        yield from fresh
        if over and not fresh:
            return
        if not fresh:
            time.sleep(poll)
