"""The Python API of fleets: what `Orchestrator.run` / `arun` / `start` do on a fleet environment.

One admission for the whole fleet (a protected environment asks once), then one audited run per
target through the Orchestrator's `begin`. `LiveFleet` is the thread-safe handle of a fleet in
flight on the background loop (stop, send, rows, wait).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
import threading
import time
from collections.abc import Callable, Collection, Sequence
from typing import Protocol

from .._loop import BackgroundLoop, Interrupted, result_of, room_waited, run_or_cancel, settled
from ..admission import Gate, Ticket
from ..asking import awaited_run
from ..engine import Run, RunOptions
from ..errors import OneLine, OrchError, RunCancelled
from ..guard import Scope
from ..keywords import keywords_checked
from ..layers.base import Launcher
from ..plan import RunPlan
from ..process.stdin_writer import Pace, as_bytes
from ..run_names import run_name
from ..shutdown import close_at_exit
from ..sinks.base import SinkFactory, Sinks
from ..sinks.ring import RingBuffer
from ..stdin import StdinSource
from .lookup import recordable
from .named import NamedFleet
from .options import FleetOptions
from .result import LIVE_STATES, STATES, FleetResult
from .rows import TargetRow
from .runner import FleetRun
from .stdin import SharedStdin
from .targets import describe_labels, expand, limited, planned_scope

#: Seconds a fleet interrupted while its targets are found takes to stop, at most.
STARTED_WITHIN = 10.0


class Host(Protocol):
    """What fleets need of an Orchestrator."""

    @property
    def loop(self) -> BackgroundLoop: ...

    def admit(self, plan: RunPlan, *, yes: str | Collection[str] = (),
              front_end: str = "api", scope: Scope | str | None = None) -> Ticket: ...

    def begin(self, plan: RunPlan, options: RunOptions = ..., ticket: Ticket | None = None,
              target: str | None = None) -> Run: ...

    def launcher_for(self, plan: RunPlan) -> Launcher: ...

    @property
    def gate(self) -> Gate: ...

    def replanned(self, plan: RunPlan, admit: Callable[[RunPlan], None] = ...) -> RunPlan: ...

    def close(self) -> None: ...

    def after_fork(self) -> None: ...


def sink_factory(sinks: Sinks) -> SinkFactory:
    """Per-target sinks: a callable label → sinks is used as is; sink objects cannot be shared
    by many runs (each run closes its sinks), so they are refused."""
    if callable(sinks):
        return sinks
    if sinks:
        raise OrchError("a fleet runs many targets: pass sinks as a callable label → sinks")
    return lambda label: ()


class Fleets:
    """Fleet runs of one Orchestrator (its `fleets` attribute)."""

    def __init__(self, host: Host) -> None:
        self.host = host
        #: Named fleets (`start` with a name): what `ps`, `logs` and `stop` see.
        self.named: dict[str, NamedFleet] = {}
        self._running: set[LiveFleet] = set()
        self._lock = threading.Lock()

    def begin(self, plan: RunPlan, options: FleetOptions, ticket: Ticket, *,
              sinks: Sinks = (), stdin: StdinSource = None,
              close_stdin: bool = True,
              on_change: Callable[[TargetRow], None] = lambda row: None,
              rerun_sinks: Sinks | None = None) -> FleetRun:
        """Start a fleet on the running loop (every target admitted by `ticket`); a rerun of
        its result gets `rerun_sinks` (default: `sinks`)."""
        host = self.host
        shared = SharedStdin(stdin, close_stdin)
        plan = host.gate.as_written(plan)

        def begin(target_plan: RunPlan, run_options: RunOptions, label: str) -> Run:
            return host.begin(host.gate.vouch(target_plan), run_options, ticket, target=label)

        def rerun(labels: list[str], yes: str | Collection[str]) -> FleetResult:
            # the limit still holds: a host row stands for the containers it would keep
            again = FleetOptions(options.limit, options.parallel, options.max_fail,
                                 options.timeout, tuple(labels), options.tail)
            stdin = shared.replay()  # one it cannot send again asks nobody and reads no secret
            tickets: list[Ticket] = []  # the environment as it is now: a host may have left
            now = host.replanned(plan, lambda p: tickets.append(self.admit(p, again, yes, "api")))
            return self.run(now, again, stdin=stdin, ticket=tickets[0],
                            sinks=sinks if rerun_sinks is None else rerun_sinks)

        base = host.launcher_for(_no_layers(plan))
        return FleetRun(plan, begin, base, options, sinks=sink_factory(sinks), stdin=shared,
                        on_change=on_change, rerun=rerun,
                        lookup=recordable(host.gate, plan, ticket))

    async def arun(self, plan: RunPlan, options: FleetOptions, *, stdin: StdinSource = None,
                   sinks: Sinks = (), yes: str | Collection[str] = (),
                   ticket: Ticket | None = None) -> FleetResult:
        """Run every target to its end on the current loop; cancelling stops them all
        (`ticket`: admitted already)."""
        ticket = ticket or self.admit(plan, options, yes, "api")
        fleet = self.begin(plan, options, ticket, sinks=sinks, stdin=stdin)
        return await awaited_run(fleet.task, fleet.stop,  # magics19, 20
                                 lambda r: RunCancelled(r, r.summary()))

    def start(self, plan: RunPlan, options: FleetOptions, *, stdin: StdinSource = None,
              close_stdin: bool = True, sinks: Sinks = (),
              yes: str | Collection[str] = (), front_end: str = "api",
              on_change: Callable[[TargetRow], None] = lambda row: None,
              ticket: Ticket | None = None, rerun_sinks: Sinks | None = None) -> LiveFleet:
        """Start on the background loop and return with a LiveFleet once its targets are known
        (a `limit` that selects nothing raises here), or at once when containers are to be
        found by label (their hosts answer when they do: a fleet that then finds none fails
        as a whole, `LiveFleet.error()`); `ticket`: admitted already."""
        if not isinstance(plan, RunPlan) or not isinstance(options, FleetOptions):  # fleets9
            raise TypeError("fleets.start() takes a RunPlan and FleetOptions; to start a "
                            "fleet, call orch.start(ENV, SERVICE, …)")
        ticket = ticket or self.admit(plan, options, yes, front_end)
        loop = self.host.loop
        made: list[FleetRun] = []

        async def begin() -> FleetRun:
            fleet = self.begin(plan, options, ticket, sinks=sinks, stdin=stdin,
                               close_stdin=close_stdin, on_change=on_change,
                               rerun_sinks=rerun_sinks)
            made.append(fleet)
            if fleet.searching:  # fleets10: a silent host held it for its connect timeout
                return fleet
            try:
                await fleet.ready.wait()  # a --limit matching nothing is an error here
            except asyncio.CancelledError:  # Ctrl-C while its containers were looked up
                fleet.stop()
                raise
            if fleet.task.done() and fleet.task.exception() is not None:
                await fleet.task
            return fleet

        try:
            live = LiveFleet(run_or_cancel(loop, begin(), STARTED_WITHIN), loop)
            self._track(live)
        except Interrupted:  # no target may start later: stopped, as its rows say
            if not made:
                raise
            live = LiveFleet(made[0], loop)
            self._track(live)
            live.stop()
            raise FleetInterrupted(live.wait()) from None
        except KeyboardInterrupt:  # a Ctrl-C as it began, before it was tracked: stopped too
            if made:
                late = LiveFleet(made[0], loop)
                self._track(late)
                late.stop()
            raise
        return live

    def admit(self, plan: RunPlan, options: FleetOptions, yes: str | Collection[str],
              front_end: str) -> Ticket:
        """A limit that selects nothing is said before anyone is asked to confirm (when the
        targets are known before run time: labels of containers are found by running). A
        rerun's labels passed the limit once: a host since gone has a row saying so."""
        if options.limit is not None and options.only is None:
            targets = expand(plan.layers_to_run)
            if all(t.pending is None for t in targets):
                limited(targets, options.limit)
        scope = planned_scope(plan.layers_to_run, options.limit) if options.only is None else \
            Scope(describe_labels(options.only), frozenset(options.only))
        return self.host.admit(plan, yes=yes, front_end=front_end, scope=scope)

    def _track(self, live: LiveFleet) -> None:
        """Remember a fleet until it ends, so `stop_all`, `close()` and interpreter exit (a
        kernel shutting down) stop it, named or not."""
        close_at_exit(self.host)
        with self._lock:
            self._running.add(live)

        def forget() -> None:
            with self._lock:
                self._running.discard(live)

        live.when_done(forget)

    def stop_all(self, timeout: float | None = 30) -> None:
        """Stop every fleet still running (INT → TERM → KILL) and wait for their ends."""
        with self._lock:
            running = list(self._running)
        for live in running:
            live.stop()
        for live in running:
            live.settle(timeout)

    def start_named(self, plan: RunPlan, options: FleetOptions, name: str, ticket: Ticket, *,
                    stdin: StdinSource = None, close_stdin: bool | None = None,
                    sinks: Sinks = ()) -> LiveFleet:
        """A background fleet under `name` (chosen by the caller: `run_names.choose`): `ps`
        shows it with counts by state, `logs` its labelled lines, `stop` stops it all."""
        extra = sink_factory(sinks)
        entry = NamedFleet(RingBuffer())
        service = plan.service
        if service is not None and service.restart != "no":  # runs7: dropped without a word
            entry.logs.add("stderr", [f"orch: {name}: the service's restart: {service.restart} "
                                      f"is for single runs: a named fleet is not restarted "
                                      f"(rerun its failed targets: result.failed.rerun())"])
        live = self.start(plan, options, stdin=stdin, close_stdin=close_stdin is not False,
                          sinks=lambda label: (*extra(label), *entry.sinks(label)),
                          ticket=ticket, on_change=entry.row_changed,
                          rerun_sinks=sinks)  # fleets22: its rerun wrote into this log
        live.name = name
        entry.live = live
        self.named[name] = entry

        def failed() -> None:  # no container has its label: what `logs NAME` says
            error = live.error()
            if error is not None:
                entry.logs.add("stderr", [f"orch: {name}: {error}"])
        live.when_done(failed)
        return live

    def running(self, name: str) -> bool:
        """Whether a fleet of that name still has a target running."""
        entry = self.named.get(name)
        return entry is not None and not entry.done

    def forget(self, name: str) -> None:
        """Drop a finished fleet of that name (its name now belongs to a single run)."""
        entry = self.named.get(name)
        if entry is not None and entry.done:
            del self.named[name]

    def get(self, name: str) -> NamedFleet | None:
        return self.named.get(run_name(name))

    def run(self, plan: RunPlan, options: FleetOptions, *, stdin: StdinSource = None,
            sinks: Sinks = (), yes: str | Collection[str] = (),
            ticket: Ticket | None = None) -> FleetResult:
        """Run every target to its end (blocks; Ctrl-C stops every target)."""
        return self.start(plan, options, stdin=stdin, sinks=sinks, yes=yes, ticket=ticket).wait()


def _no_layers(plan: RunPlan) -> RunPlan:
    return dataclasses.replace(plan, layers=())


class FleetInterrupted(OneLine, KeyboardInterrupt):
    """Ctrl-C stopped a fleet; `.result` holds what every target did until then."""

    def __init__(self, result: FleetResult) -> None:
        super().__init__(result.summary())
        self.result = result


@keywords_checked
class LiveFleet:
    """A fleet in flight on the background loop, steerable from any thread."""

    def __init__(self, fleet: FleetRun, loop: BackgroundLoop, name: str | None = None) -> None:
        self.fleet = fleet
        self.plan = fleet.plan
        self.name = name
        self._loop = loop
        self._future: concurrent.futures.Future[FleetResult] = loop.submit(fleet.wait())
        self._eof_sent = False
        self._pace = Pace()  # when a send looks whether the targets read their input
        #: When it ended, every target or as a whole (`ps`'s clock stops there).
        self.ended_at: float | None = None
        self._future.add_done_callback(lambda _: setattr(self, "ended_at", time.monotonic()))

    @property
    def done(self) -> bool:
        return self._future.done()

    def counts(self) -> dict[str, int]:
        """How many targets are in each state now (queued, running, ok, failed, …)."""
        states = [row.state for row in list(self.fleet.rows.values())]
        return {s: states.count(s) for s in (*LIVE_STATES, *STATES) if s in states}

    @property
    def state(self) -> str:
        counts = self.counts()
        if counts:
            return ", ".join(f"{n} {s}" for s, n in counts.items())
        error = self.error()
        if error is not None:
            return f"failed: {error}"
        fleet = self.fleet
        if fleet.searching and not fleet.ready.is_set():  # fleets10: said, not silent
            hosts = fleet.hosts_to_search
            return "finding containers" + (f" on {fleet.searching} of {hosts} hosts"
                                           if hosts > 1 else "")
        return "starting"

    def error(self) -> BaseException | None:
        """Why the fleet as a whole failed, once it has: no container has its label, its
        `limit` kept none of the containers found (said by `wait()` as it raises)."""
        future = self._future
        if not future.done() or future.cancelled():
            return None
        return future.exception()

    def stop(self, *, again: bool = False) -> None:
        """Stop every target (INT → TERM → KILL); queued ones never start (`again`: Run.stop)."""
        self._loop.call(lambda: self.fleet.stop(again=again))

    interrupt = stop

    def kill(self) -> None:
        self._loop.submit(self.fleet.kill())

    def send(self, data: str | bytes, *, echo: Sequence[str] = (), wait: bool = True) -> None:
        """Write to the stdin of every target that runs or is still to start (it gets it once
        started). Raises OrchError when none can take it (the fleet has ended, EOF was sent,
        every target has closed its stdin): input is never dropped silently, as `LiveRun.send`.
        Held as `LiveRun.send` is, until the slowest running target has read enough
        (review39: 64 MiB were queued per target at once); `wait=False` never waits.
        `echo`: the lines typed that `data` holds, for the live view (the stdin box's)."""
        if self._future.done():
            raise OrchError(f"{self!r} has ended: its stdin is gone")
        if self._eof_sent:
            raise OrchError(f"{self!r}: stdin is closed (EOF was sent)")
        if self.plan.stdin_mode == "none":  # fleets12: every target starts with EOF
            raise OrchError(f"{self!r}: its service takes no input (stdin_mode: none): "
                            f"nothing was sent")
        if not self.fleet.takes_input():
            raise OrchError(f"{self!r}: no target takes input (each has ended or closed its "
                            f"stdin)")
        payload = as_bytes(data)  # checked (TypeError, ValueError) in the caller's thread
        self._loop.call(self.fleet.send, payload, tuple(echo))
        if wait and not self._loop.in_loop_thread and self._pace.due(len(payload)):
            room_waited(self._loop.submit(self.fleet.room()), repr(self), len(payload))

    def send_line(self, line: str) -> None:
        if not isinstance(line, str):
            raise TypeError(f"send_line() takes str, got {type(line).__name__}")
        self.send(line + "\n")

    def close_stdin(self) -> None:
        self._eof_sent = True
        self._loop.call(self.fleet.close_stdin)

    def wait(self, timeout: float | None = None, *,
             tick: Callable[[], None] | None = None) -> FleetResult:
        """Block until every target has ended; Ctrl-C stops them all (a second kills) and
        raises FleetInterrupted carrying the result. `tick()` is called every 0.1 s meanwhile,
        also while the stop goes on (a live view)."""
        try:
            return result_of(self._future, timeout, f"fleet {self.name or self.plan.name} in "
                                                    f"{self.plan.environment.name}", tick)
        except KeyboardInterrupt:
            self.stop()
            try:
                result = result_of(self._future, tick=tick)
            except KeyboardInterrupt:
                self.kill()
                result = result_of(self._future)
            raise FleetInterrupted(result) from None

    def when_done(self, callback: Callable[[], None]) -> None:
        """Call `callback()` (on the background loop's thread) once every target has ended."""
        self._future.add_done_callback(lambda _future: callback())

    def result(self) -> FleetResult | None:
        """The result once every target has ended (None before, or when it failed as a
        whole: `error()`)."""
        if not self._future.done() or self._future.cancelled() or self.error() is not None:
            return None
        return self._future.result()

    def settle(self, timeout: float | None = None) -> None:
        """Wait up to `timeout` for the end, whatever it is (for shutting down)."""
        settled(self._future, timeout)

    def __repr__(self) -> str:
        return f"<LiveFleet {self.name or self.plan.name} in {self.plan.environment.name}: " \
               f"{self.state}>"
