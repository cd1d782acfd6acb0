"""The Orchestrator's named runs once started: list them, read their logs, stop or restart
them (`start` itself is the Orchestrator's: it admits and plans as every run does).

A fleet started under a name is managed here too: it shares the runs' names (docs/fleets.md).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Collection, Iterator
from typing import TYPE_CHECKING, Protocol

from ._loop import check_wait, refuse_on_loop
from .arguments import checked_tail
from .errors import ConfigError, LayerError
from .keywords import keywords_checked
from .named_runs import Entry, Followed, RunInfo, gap
from .plan import guarded_now
from .shutdown import stop_runs

if TYPE_CHECKING:
    from .admission import Gate, Ticket
    from .config.model import Config
    from .engine import Run, RunOptions
    from .fleet import FleetResult, Fleets
    from .fleet.named import NamedFleet
    from .lifecycle import NamedRun
    from .live import LiveRun
    from .named_runs import RunRegistry
    from .plan import RunPlan
    from .result import RunResult
    from .shutdown import SpawnedRuns

    class _Host(Protocol):
        """What these methods need of their Orchestrator."""

        runs: RunRegistry
        _spawned: SpawnedRuns
        gate: Gate

        @property
        def fleets(self) -> Fleets: ...

        @property
        def config(self) -> Config: ...

        def replanned(self, plan: RunPlan, admit: Callable[[RunPlan], None] = ...
                      ) -> RunPlan: ...

        def admit(self, plan: RunPlan, *, yes: str | Collection[str] = (),
                  front_end: str = "api") -> Ticket: ...

        def begin(self, plan: RunPlan, options: RunOptions = ..., ticket: Ticket | None = None,
                  target: str | None = None) -> Run: ...


@keywords_checked
class RunManagement:
    """ps, logs, status, stop, restart and stop_all of an Orchestrator's named runs."""

    def ps(self: _Host) -> list[RunInfo]:
        """Named runs: name, environment, service, state, pid, elapsed, exit, restarts, log."""
        return self.runs.ps() + [fleet.info() for fleet in self.fleets.named.values()]

    def logs(self: _Host, name: str, tail: int | None = None, *,
             follow: bool = False) -> str | Iterator[str]:
        """The kept output (last lines) of a named run.

        With `follow=True`, an iterator of lines: the kept ones, then new lines as they come,
        ending when the run is over for good (no restart pending)."""
        fleet = self.fleets.get(name)  # a fleet's lines are labelled `target | line`
        entry: NamedFleet | Entry = fleet if fleet is not None else self.runs.get(
            name, self.fleets.named)
        log_file = entry.supervisor.log_file if isinstance(entry, Entry) else None
        where = f" (the log file {log_file.path} has them)" if log_file is not None else ""
        if follow:
            return Followed(entry.logs, lambda: entry.done, checked_tail(tail), where=where)
        lines = entry.logs.tail(checked_tail(tail))
        ends = fleet.lost_ends(lines) if fleet is not None and tail is None else []
        if tail is None and entry.logs.total_lines > len(lines):  # never a silent gap
            lines = [gap(entry.logs.total_lines - len(lines), where, "earlier "), *lines]
        lines = [*lines[:1], *ends, *lines[1:]] if ends else lines
        if tail != 0:  # the line being written too: a prompt waiting for its answer
            lines = [*lines, *(fleet.pending() if fleet is not None else entry.logs.pending())]
            lines = lines[-tail:] if tail else lines
        return "\n".join(lines)

    def status(self: _Host, name: str) -> LiveRun:
        """The current attempt of a named run (`.state`, `.pid`, `.restarts`, `.log_file`)."""
        return self.runs.get(name, self.fleets.named, single="status").run

    def stop(self: _Host, name: str, timeout: float | None = 30) -> RunResult | FleetResult:
        """Stop a named run (INT → TERM → KILL, no more restarts) and return its result."""
        timeout = check_wait(timeout)
        fleet = self.fleets.get(name)
        if fleet is not None:
            fleet.live.stop()
            return fleet.live.wait(timeout)
        entry = self.runs.get(name, self.fleets.named)
        entry.supervisor.stop(timeout)
        with contextlib.suppress(LayerError):  # it never started: no failure of the stop
            entry.run.wait(timeout)
        return entry.run.result()  # type: ignore[return-value]  # it has ended

    def restart(self: _Host, name: str, *, yes: str | Collection[str] = (),
                front_end: str = "api") -> NamedRun:
        """Stop a named run and start it again, admitted anew as by `start` (`yes` as there)."""
        tickets: list[Ticket] = []  # admitted before the layers' secrets are asked
        return self.runs.restart(name, self.fleets.named, lambda plan: self.replanned(
            plan, lambda p: tickets.append(self.admit(p, yes=yes, front_end=front_end))),
            lambda plan: lambda p, o: self.begin(attempt_now(self, p), o, tickets[0]))

    def unnamed_running(self: _Host) -> list[LiveRun]:
        """The runs going that have no name (a cell's blocking run, one `spawn` started): what
        `close()` stops besides the named ones (magics15: `%unload_ext` ended them unsaid)."""
        return [live for live in self._spawned.current() if not live.done]

    def stop_all(self: _Host, timeout: float | None = 30) -> None:
        """Stop every named and spawned run of this orchestrator and wait for their ends."""
        timeout = check_wait(timeout)
        refuse_on_loop("stop_all()")
        stop_runs([e for e in self.runs.entries() if not e.done], self._spawned.current(),
                  vars(self).get("fleets"), timeout)


def attempt_now(host: _Host, plan: RunPlan) -> RunPlan:
    """A named run's next attempt, under the guardrails the config sets now (a load() that
    narrowed, protected or removed the environment stops restarts): an environment or a
    service the config no longer has is a ConfigError (with did-you-mean). A config of files with no
    environment at all is one read half-saved (an editor truncates, then writes: review26):
    said at its file, so that an automatic restart waits for the rest (lifecycle)."""
    config = host.config
    if not config.environments and config.origin:
        raise ConfigError("the config has no environment at all (a save half-written?)",
                          file=config.origin[0], line=1)
    config.run_environment(plan.environment.name)
    if plan.service is not None:  # config15: a service removed from the file came back
        if not config.services and config.origin:
            raise ConfigError("the config has no service at all (a save half-written?)",
                              file=config.origin[0], line=1)
        config.service(plan.service.name)
    now = guarded_now(plan, config)
    return host.gate.vouch(now) if host.gate.vouched(plan) else now  # its plan, as made
