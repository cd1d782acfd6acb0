"""The named runs of one Orchestrator: their names, `ps` rows, lookups, and following logs.

Each entry is the `Supervisor` of one name (lifecycle.py); named fleets live beside them
(fleet/named.py) and share the names (`run_names.choose`).
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass

from .asking import awaited_cell_interrupts
from .config.suggest import did_you_mean
from .errors import ConfigError, OrchError, RunInterrupted
from .lifecycle import Begin, NamedRun, Supervisor
from .plan import RunPlan
from .run_names import check_name, run_name, taken
from .secrets.masking import mask_text
from .sinks.ring import RingBuffer


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
        self._lock = threading.Lock()
        #: Held while a name is chosen and taken, by a run or a fleet (one namespace).
        self.naming = threading.Lock()
        self._restarting = threading.Lock()

    def running(self, name: str) -> bool:
        """Whether a run of that name is still running (or will restart)."""
        entry = self._entries.get(name)
        return entry is not None and not entry.done

    def forget(self, name: str) -> None:
        """Drop a finished run of that name (its name now belongs to a fleet)."""
        with self._lock:
            entry = self._entries.get(name)
            if entry is not None and entry.done:
                del self._entries[name]

    def start(self, name: str, supervisor: Supervisor) -> NamedRun:
        """Register `supervisor` under `name` and start its first attempt; an attempt refused
        before it started (the audit log cannot be written, …) leaves no entry behind."""
        entry = Entry(supervisor)
        with self._lock:
            check_name(name)
            if self.running(name):  # taken since the name was chosen
                raise taken(name)
            self._entries[name] = entry
        try:
            return supervisor.start()
        except RunInterrupted:  # it started, and was stopped: its entry and logs stay
            raise
        except BaseException:
            with self._lock:
                if self._entries.get(name) is entry:
                    del self._entries[name]
            raise

    def restart(self, name: str, fleets: Collection[str], replan: Callable[[RunPlan], RunPlan],
                admit: Callable[[RunPlan], Begin]) -> NamedRun:
        """Stop the run if it still runs and start it again through what `admit(plan)` gives,
        its plan made anew by `replan` (a new run asked for now is admitted under the
        guardrails the config has now; its automatic restarts share that). A refused
        admission leaves the current attempt running; a new attempt refused later (the audit
        log cannot be written, …) leaves the run as it was, finished. Restarts take turns:
        two at once started two runs of one name, one of which nothing could stop (runs5)."""
        with self._restarting:
            return self._restart(name, fleets, replan, admit)

    def _restart(self, name: str, fleets: Collection[str], replan: Callable[[RunPlan], RunPlan],
                 admit: Callable[[RunPlan], Begin]) -> NamedRun:
        entry = self.get(name, fleets, single="restart")
        try:
            plan = replan(entry.supervisor.plan)
        except ConfigError as exc:  # the config loaded since has no such environment, …
            raise ConfigError(f"cannot restart {name!r}: {exc.message}", file=exc.file,
                              line=exc.line, column=exc.column, source_line=exc.source_line,
                              suggestion=exc.suggestion) from None
        begin = admit(plan)
        old = entry.supervisor
        old.superseded = True  # its followers (a cell's view) follow the next attempt
        try:
            if not entry.done:
                old.stop()
            fresh = old.again(begin, plan)  # its logs go on, as an automatic one's
            attempt = fresh.start()  # refused: it tells the followers the run is over
        except BaseException:  # the stop was interrupted, or timed out: no hand-over
            old.superseded = False
            if old.done:
                old.loop.call(old.tell_end)
            raise
        old.successor = entry.supervisor = fresh  # a refused one is no successor
        return attempt

    def get(self, name: str, fleets: Collection[str] = (), *, single: str = "") -> Entry:
        """The run of that name, else an error naming the runs there are (`fleets`: the named
        fleets, which share the namespace; `single`: what is asked, which fleets lack)."""
        name = run_name(name)
        entry = self._entries.get(name)
        if entry is None:
            if not isinstance(name, str):  # `logs(5)`: said, not a did-you-mean's TypeError
                raise ConfigError(f"a run's name is a str, not {type(name).__name__} {name!r}")
            if single and name in fleets:
                raise OrchError(f"{name!r} is a fleet: {single} is for a single run; ps, logs "
                                f"and stop work on fleets")
            names = [*self._entries, *fleets]
            known = ", ".join(names) or "none"
            hint = did_you_mean(name, names)
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
            error = run.exception() if run.done else None  # browser16: a run that never
            result = None if not run.done else run.result() if error is None else \
                run.unstarted(error)  # started went on aging in `ps`, its EXIT empty
            elapsed = result.duration if result else time.time() - run.started_at
            exit_text = result.outcome() if result else ""
            rows.append(RunInfo(
                name, run.plan.environment.name, mask_text(run.plan.name), run.state, run.pid,
                elapsed, mask_text(exit_text), entry.restarts, run.log_file))
        return rows


class Followed(Iterator[str]):
    """The kept lines of a named run, then new lines as they come, until `over()` (the run is
    over for good). `batches()` gives the same lines a list per look (every `poll` seconds):
    what a notebook prints in one message, not one per line (a fast run's lines one by one
    passed the server's 1,000 messages a second, and the rest was dropped)."""

    def __init__(self, logs: RingBuffer, over: Callable[[], bool], tail: int | None = None,
                 poll: float = 0.1, where: str = "") -> None:
        """`where`: where the lines the ring no longer holds are (` (the log file … has
        them)`), said in the line that marks such a gap."""
        self._batches = _looks(logs, over, tail, poll, where)
        self._lines = itertools.chain.from_iterable(self._batches)

    def __next__(self) -> str:
        return next(self._lines)

    def batches(self) -> Iterator[list[str]]:
        return self._batches


def _looks(logs: RingBuffer, over: Callable[[], bool], tail: int | None, poll: float,
           where: str) -> Iterator[list[str]]:
    """Each look's new lines; lines that came and went between two looks (a run printing
    faster than the ring is read) are said in one line, never skipped in silence (runs6)."""
    backlog, seen = logs.since(0)
    kept = backlog if tail is None else backlog[-tail:] if tail else []
    if tail is None and seen > len(backlog):
        kept = [gap(seen - len(backlog), where, "earlier "), *kept]
    if kept:
        yield kept
    while True:
        done = over()
        before = seen
        fresh, seen = logs.since(seen)
        if seen - before > len(fresh):
            fresh = [gap(seen - before - len(fresh), where), *fresh]
        if fresh:
            yield fresh
        elif done:
            return
        with awaited_cell_interrupts():  # magics22: in a cell using top-level await, ■
            time.sleep(poll)  # cancels a coroutine this never yields to: it raises here


def gap(lines: int, where: str, which: str = "") -> str:
    """The line standing for `lines` lines the ring buffer no longer holds."""
    return f"orch: … {lines} {which}line{'' if lines == 1 else 's'} not kept in memory{where}"
