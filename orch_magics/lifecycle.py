"""One named background run: its supervisor, attempts and log file.

A named run is a `Supervisor` on the background loop. It runs the plan once per *attempt*
(each attempt is a `NamedRun`, a `LiveRun` with the run's name, log file and restart count) and,
under `restart: on-failure` or `always`, starts the next attempt after an exponential back-off
(`restart_policy.RestartPolicy.delay`) until `max_restarts` is used up or someone stops it. Output of every
attempt goes to one bounded `RingBuffer` (for `logs`) and one log file per name (mode 0600,
appended; masked like every sink).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import weakref
from collections.abc import Callable
from dataclasses import replace
from typing import Protocol

from ._loop import BackgroundLoop, detached, refuse_on_loop, result_of, started
from .config.files import NoConfig
from .engine import Run, RunOptions
from .errors import ConfigError, RunInterrupted
from .live import LiveRun
from .plan import RunPlan
from .restart_policy import RestartPolicy
from .result import RunResult
from .secrets.masking import get_logger, mask_text
from .shutdown import when_cut_short
from .sinks.base import Sink, steps_apart
from .sinks.log_file import LogFile
from .sinks.ring import RingBuffer

log = get_logger(__name__)

#: The named runs not yet over: a TERM that ends the process first notes it in their log
#: files (runs7: the audit said so, the log file ended at the attempt's start line).
_LIVE: weakref.WeakSet[Supervisor] = weakref.WeakSet()


def _note_cut_short(why: str) -> None:
    live = list(_LIVE)
    _LIVE.clear()  # once: a second signal's word is not another end
    for supervisor in live:
        if supervisor.log_file is not None:
            supervisor.log_file.note(f"{supervisor.name}: {why}")
            supervisor.log_file.shutdown()


when_cut_short(_note_cut_short)
#: Bytes of each stream a named run's RunResult keeps (the log file holds the rest).
DEFAULT_CAPTURE_LIMIT = 4 << 20
#: Seconds between two tries of a restart waiting for the config files to read again.
CONFIG_RETRY = 2.0
#: Starts a run on the loop: the Orchestrator's `begin`.
Begin = Callable[[RunPlan, RunOptions], Run]


class Follower(Protocol):
    """Told of a named run's life across its attempts, on the loop thread: a cell's view and
    stdin box follow the run, not only its first attempt."""

    def attempt_started(self, attempt: NamedRun) -> None: ...

    def noted(self, text: str) -> None: ...

    def run_ended(self, last: NamedRun | None) -> None: ...


class NamedRun(LiveRun):
    """One attempt of a named background run."""

    def __init__(self, run: Run, loop: BackgroundLoop, name: str, supervisor: Supervisor,
                 attempt: int) -> None:
        super().__init__(run, loop, name=name)
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
        if self.supervisor.waiting and self.supervisor.run is self:  # over, its end noted
            return "restarting"
        return super().state

    def _gone(self) -> str:
        supervisor = self.supervisor
        while supervisor.successor is not None:  # restarted by hand since (magics14)
            supervisor = supervisor.successor
        current = supervisor.run
        if current is not None and current is not self and not supervisor.done:
            return (f"; the run goes on as attempt {current.attempt}: %orch status "
                    f"{self.name} (orch.status({self.name!r})) is its handle")
        return ""

    def __repr__(self) -> str:
        state = self.state
        pid = f", pid {self.pid}" if self.pid is not None and state == "running" else ""
        extra = f", {self.restarts} restart(s)" if self.restarts else ""
        where = f", log {self.log_file}" if self.log_file else ""
        return mask_text(f"<NamedRun {self.name} in {self.plan.environment.name}: "
                         f"{state}{pid}{extra}{where}>")


class Supervisor:
    """Runs one plan under a name, attempt after attempt, until done or stopped."""

    def __init__(self, name: str, plan: RunPlan, loop: BackgroundLoop, *, begin: Begin,
                 ring: RingBuffer, log_file: LogFile | None, policy: RestartPolicy,
                 options: RunOptions = RunOptions(), restarts: int = 0) -> None:
        self.name = name
        self.plan = plan
        self.loop = loop
        self.ring = ring
        self.log_file = log_file
        self.policy = policy
        self.restarts = restarts
        self.waiting = False  # in the back-off between two attempts
        self._why_not = ""  # what kept the last attempt from starting
        self._begin = begin
        self._options = options
        self._stopping = False
        self._stop_event: asyncio.Event | None = None
        self.finished: concurrent.futures.Future[None] = concurrent.futures.Future()
        self.run: NamedRun | None = None
        #: Told of each attempt, note and the end; a manual restart hands them on to the
        #: supervisor that takes over (`again`), which tells them the end instead.
        self.followers: list[Follower] = []
        self.superseded = False
        self.successor: Supervisor | None = None  # the one a manual restart handed over to

    # ---- caller's thread ----------------------------------------------------------------------
    def start(self) -> NamedRun:
        _LIVE.add(self)  # its log file says so if a TERM ends the process before it ends

        async def first() -> NamedRun:
            self._stop_event = asyncio.Event()
            try:
                attempt = self._new_attempt()
            except BaseException:  # refused before it started: over, with nothing to show
                self._ended()
                raise
            detached(self._main(attempt))
            return attempt

        refuse_on_loop("starting a named run")
        attempt, interrupted = started(self.loop.submit(first()))
        if interrupted:  # stopped, not left to run on unseen
            self.request_stop()
            raise RunInterrupted(attempt.wait())
        return attempt

    @property
    def done(self) -> bool:
        return self.finished.done()

    def request_stop(self, *, again: bool = False) -> None:
        """No more restarts; stop the current attempt (INT → TERM → KILL); `again`: a person
        asks once more (`Run.stop`)."""
        self._stopping = True

        def on_loop() -> None:
            if self._stop_event is not None:
                self._stop_event.set()
            if self.run is not None:
                self.run.interrupt(again=again)

        self.loop.call(on_loop)

    def stop(self, timeout: float | None = 30) -> RunResult | None:
        """Stop it and wait for its end, clean-up post commands included. A Ctrl-C (■) in
        the wait is a second stop, which ends a post command that runs (browser22: the wait
        lasted as long as the clean-up did, and nothing could end it), then is raised."""
        self.request_stop()
        try:
            result_of(self.finished, timeout, f"named run {self.name!r} (being stopped)")
        except KeyboardInterrupt:
            self.request_stop(again=True)
            raise
        assert self.run is not None
        return self.run.result()

    def follow(self, follower: Follower, known: NamedRun) -> None:
        """Tell `follower`, which knows the attempt `known`, of this run from now on (of a
        later attempt, or the end, that came first at once)."""
        if self.successor is not None:  # restarted by hand since: the run goes on there
            self.successor.follow(follower, known)
            return

        def on_loop() -> None:
            if self.run is not None and self.run is not known:
                follower.attempt_started(self.run)
            if self.finished.done() and not self.superseded:
                follower.run_ended(self.run)  # over: told now, never added
            else:
                self.followers.append(follower)

        self.loop.call(on_loop)

    def again(self, begin: Begin, plan: RunPlan) -> Supervisor:
        """A fresh supervisor for the same run (a manual restart), counting one more restart;
        `begin` carries the restart's own admission of `plan` (its attempts share it)."""
        self._note(f"{self.name}: restart {self.restarts + 1} asked for")
        fresh = Supervisor(self.name, plan, self.loop, begin=begin, ring=self.ring,
                           log_file=self.log_file, policy=self.policy, options=self._options,
                           restarts=self.restarts + 1)
        fresh.followers = self.followers
        return fresh

    # ---- loop thread --------------------------------------------------------------------------
    def _new_attempt(self) -> NamedRun:
        given = self._options.stdin
        resent = self.restarts == 0 or isinstance(given, (str, bytes, bytearray, memoryview))
        own: list[Sink] = [self.ring, *([self.log_file] if self.log_file else [])]
        # An iterator or a file given as stdin is used up by the first attempt; text and bytes
        # are resent. A later attempt then gets EOF at once, as the first did at the source's
        # end (runs5: it waited on an open stdin for ever), unless stdin was kept open.
        # The ring buffer's and the log file's close() only write out the lines not ended
        # yet: both outlive an attempt.
        used_up = not resent and given is not None and self._options.close_stdin is None
        options = replace(self._options, sinks=[*own, *self._options.sinks],
                          step_sinks=lambda step, kind: [
                              *own, *steps_apart(self._options.sinks)],
                          stdin=given if resent else None,
                          close_stdin=True if used_up else self._options.close_stdin,
                          log_file=self.log_file.path if self.log_file else None)
        attempt = NamedRun(self._begin(self.plan, options), self.loop, self.name, self,
                           attempt=self.restarts + 1)
        self.run = attempt
        for follower in list(self.followers):
            follower.attempt_started(attempt)
        return attempt

    async def _main(self, attempt: NamedRun) -> None:
        assert self._stop_event is not None
        try:
            while True:
                start = (f"start {self.plan.environment.name}/{self.plan.name} "
                         f"(attempt {attempt.attempt})")  # where each attempt's lines begin
                self.ring.add("stderr", [f"orch: {self.name}: {start}"])
                if self.log_file is not None:
                    self.log_file.note(start)
                result = await self._outcome(attempt)
                if not await self._restart_due(result):
                    return
                next_attempt = await self._attempted()
                if next_attempt is None:
                    return
                attempt = next_attempt
        finally:
            self._ended()

    def _ended(self) -> None:
        _LIVE.discard(self)
        self.waiting = False
        if self.log_file is not None:
            self.log_file.shutdown()  # no fd held by a finished run
        self.finished.set_result(None)
        if not self.superseded:
            self.tell_end()

    def tell_end(self) -> None:
        """Tell the followers the run is over, once: told, they follow no later restart (a
        finished cell keeps its verdict). On the loop thread."""
        told, self.followers[:] = list(self.followers), []  # the list a restart shares too
        for follower in told:
            follower.run_ended(self.run)

    async def _outcome(self, attempt: NamedRun) -> RunResult | None:
        """The attempt's result, or None when it failed to start (why: `_why_not`, said in
        the note that follows, in the logs and the log file alike)."""
        try:
            return await attempt.outcome()
        except Exception as exc:
            log.debug("named run %s failed to start", self.name, exc_info=True)
            self._why_not = mask_text(str(exc))
            return None

    async def _restart_due(self, result: RunResult | None) -> bool:
        """Note how the attempt ended; wait out the back-off when another attempt is due."""
        assert self._stop_event is not None
        ended = result.outcome() if result is not None else \
            f"failed to start: {self._why_not}"  # the log file too (runs5: it said no why)
        if self._stopping or not self.policy.should_restart(result, self.restarts):
            self._note(f"{self.name}: {ended}" + (" (stopped)" if self._stopping else ""),
                       told=self.restarts > 0 or self.superseded)  # else the view says it
            return False
        delay = self.policy.delay(self.restarts)
        self.waiting = True  # before the note: a follower told of it reads "restarting"
        self._note(f"{self.name}: {ended}; restart {self.restarts + 1}/"
                   f"{self.policy.max_restarts} in {delay:.2f}s")
        try:
            await asyncio.wait_for(self._stop_event.wait(), delay)
            self._note(f"{self.name}: stopped during the back-off: no restart")
            return False
        except asyncio.TimeoutError:
            return True
        finally:
            self.waiting = False

    async def _attempted(self) -> NamedRun | None:
        """The next attempt, or None when it is refused (the audit log cannot be written, the
        environment is gone or now protected, …) or stopped. While the config files cannot
        be read (a save with a mistake, the file moved away) it waits and tries again, said
        once: the attempt is admitted under the config as it will be, never the one read
        before (config14: any typo in the file ended the policy for good)."""
        assert self._stop_event is not None
        said = False
        while True:
            self.restarts += 1  # as the attempt sees it (its stdin is sent again or not)
            try:
                return self._new_attempt()
            except Exception as exc:
                self.restarts -= 1
                if not _unreadable(exc):
                    self._note(f"{self.name}: restart refused: {mask_text(str(exc))}")
                    return None
                if not said:
                    self._note(f"{self.name}: restart waits until the config can be read: "
                               f"{mask_text(str(exc))}")
                    said = True
            self.waiting = True
            try:
                await asyncio.wait_for(self._stop_event.wait(), CONFIG_RETRY)
                self._note(f"{self.name}: stopped while the restart waited: no restart")
                return None
            except asyncio.TimeoutError:
                pass
            finally:
                self.waiting = False

    def _note(self, text: str, *, told: bool = True) -> None:
        """Into the logs and, `told`, to the followers."""
        log.debug("%s", text)
        self.ring.add("stderr", [f"orch: {text}"])
        for follower in list(self.followers) if told else ():
            follower.noted(f"orch: {text}")
        if self.log_file is not None:
            self.log_file.note(text)


def _unreadable(exc: BaseException) -> bool:
    """Whether `exc` says the config files cannot be read now (a mistake at a file's line, or
    none found), which an edit fixes, rather than refusing the run."""
    return isinstance(exc, NoConfig) or isinstance(exc, ConfigError) and \
        exc.file is not None and exc.line is not None
