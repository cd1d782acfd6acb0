"""The fleet runner: every target as one ordinary Run, at most `parallel` at once.

Each target goes through the same door as any run (`begin`: the Gate audits it with its label),
so the engine, guardrails and audit are shared; finding a label's containers connects to the
hosts first, so it happens only once the audit log can take the targets' records (`lookup`).
Once more targets have failed than `max_fail` allows, no new one starts (running ones finish;
the rest are `skipped`). `stop()` stops every running target and starts no other
(`stopped`). Rows (`TargetRow`) carry the live state a view shows; `on_change` is told of every
state change.
"""

from __future__ import annotations

import asyncio
import copy
import dataclasses
import time
from collections.abc import Callable, Collection, Sequence

from ..engine import Run, RunOptions
from ..errors import OrchError
from ..gathering import gather_all
from ..layers.base import Launcher
from ..plan import RunPlan
from ..process.sharing import RUNS_AT_ONCE
from ..result import RunResult, unstarted
from ..sinks.base import SinkFactory, StepsApart
from ..sinks.buffer import MemoryBudget
from ..sinks.secret_prompt import AnyAsks
from .lookup import Recordable, resolve_checked
from .options import FleetOptions
from .result import FleetResult, Rerun
from .rows import TargetRow
from .stdin import SharedStdin
from .targets import Target, check_found, expand, limited_reached, names_of, to_find, unresolved

#: Starts one target's run on the running loop, audited with the target's label.
Begin = Callable[[RunPlan, RunOptions, str], Run]
#: Bytes of captured output a whole fleet holds in memory; past it its targets' RunResults
#: spill to disk (one run spills past 16 MiB: N targets would hold N × 16 MiB).
FLEET_MEMORY = 64 << 20


class FleetRun:
    """A fleet in flight on one event loop. Create it on that loop (it starts at once)."""

    def __init__(self, plan: RunPlan, begin: Begin, base: Launcher, options: FleetOptions, *,
                 sinks: SinkFactory = lambda label: (), stdin: SharedStdin | None = None,
                 on_change: Callable[[TargetRow], None] = lambda row: None,
                 rerun: Rerun | None = None, lookup: Recordable) -> None:
        self.plan, self.options = plan, options
        self._begin, self._base, self._sinks, self._lookup = begin, base, sinks, lookup
        self.stdin = stdin or SharedStdin(None)
        self._on_change = on_change
        self._rerun = rerun
        self.rows: dict[str, TargetRow] = {}
        self.memory = MemoryBudget(FLEET_MEMORY)  # shared by every target's RunResult
        #: Input sent to targets still queued or starting, by label (written once each has
        #: started; None: close its stdin then).
        self._starting: dict[str, list[str | bytes | None]] = {}
        #: Input sent before the targets are known: each runnable one starts with it.
        self._early: list[str | bytes | None] = []
        self._feeding: set[asyncio.Task[None]] = set()
        #: Why a part of the fleet has no targets, its row's state and how long it was looked for.
        self._unresolved: dict[str, tuple[RunResult, str]] = {}
        self._lookups: set[asyncio.Task[list[Target]]] = set()  # hosts' containers being found
        self.stopping = False
        self.failures = 0
        self.budget: int | None = None
        self.ready = asyncio.Event()  # set once the targets are known (rows exist)
        self.asking = AnyAsks()  # whether a target asks for a secret (the stdin box's dots)
        #: The targets to find (a `label:` layer's hosts among them), and hosts the limit keeps
        #: none of, never contacted.
        all_hosts = expand(plan.layers_to_run)
        self._names = names_of(all_hosts)  # how the limit reads a name, as in a rerun
        self._expanded, self._unseen = to_find(all_hosts, options.limit)
        if options.only is not None:  # a rerun looks for the containers of hosts asked for
            self._expanded = [t for t in self._expanded if not t.label or t.pending is None
                              or any(label == t.label or _under(label, t.label)
                                     for label in options.only)]
        #: Hosts whose containers are to be found, and those still looked up.
        self.hosts_to_search = sum(t.pending is not None for t in self._expanded)
        self.searching = self.hosts_to_search
        self.task: asyncio.Task[FleetResult] = asyncio.ensure_future(self._execute())

    # ---- steering ---------------------------------------------------------------------------
    def stop(self, *, again: bool = False) -> None:
        """Stop every running target (INT → TERM → KILL) and start no other (`again`: a
        person asks once more, `Run.stop`)."""
        self.stopping = True
        self.stdin.stop()
        for lookup in self._lookups:  # a host that hangs must not hold the stop
            lookup.cancel()
        for row in self.rows.values():
            if row.run is not None and not row.run.done:
                row.run.stop(again=again)

    async def resize(self, size: tuple[int, int]) -> None:
        """The user's window changed: every running target's terminal follows (`tty`)."""
        await asyncio.gather(*(row.run.resize(size) for row in self.rows.values()
                               if row.run is not None and not row.run.done))

    async def kill(self) -> None:
        self.stop()
        await asyncio.gather(*(row.run.kill() for row in self.rows.values()
                               if row.run is not None and not row.run.done))

    def send(self, data: str | bytes, echo: Sequence[str] = ()) -> int:
        """Write to the stdin of every running target, one still queued or starting too (its
        process gets it once it has started, in order); returns how many get it. `echo`: the
        lines typed that `data` holds, shown in the row of each target that gets them."""
        self.stdin.sent_live()
        if not self.ready.is_set():
            self._early.append(data)
            return 1
        sent, hide = 0, bool(self.asking)  # typed while a target asks: dots in every row
        for row in self.rows.values():
            run = row.run
            if run is None and row.state != "queued" or run is not None and run.done:
                continue
            waiting = self._starting.get(row.label)
            if run is None or run.handle is None or waiting is not None:
                if waiting is None:
                    waiting = self._starting[row.label] = []
                    if run is not None:
                        self._feed_once_started(row.label, run, waiting)
                waiting.append(data)
            elif run.handle.running and not run.handle.stdin.closed:
                run.handle.stdin.write(data)
            else:
                continue
            sent += 1
            if echo:
                row.note_stdin(echo, hide)
        return sent

    async def room(self) -> None:
        """Wait until the targets are known, those starting have started (what was sent to
        them meanwhile is in their stdin then), and every running one's stdin has room
        (`StdinWriter.room`); a target queued for a place (--parallel) holds no one. The
        fleet's end ends the wait."""
        if not self.ready.is_set():
            ready = asyncio.ensure_future(self.ready.wait())
            await asyncio.wait({ready, self.task}, return_when=asyncio.FIRST_COMPLETED)
            ready.cancel()
        runs = [row.run for row in self.rows.values() if row.run is not None]
        await asyncio.gather(*(run.until_started() for run in runs))
        await asyncio.gather(*(run.handle.stdin.room() for run in runs
                               if run.handle is not None and run.handle.running))

    def takes_input(self) -> bool:
        """Whether `send` would reach a target: one queued, starting, or running with its stdin
        open (read from another thread, as `LiveRun`'s checks are: a hint, not a lock)."""
        if self.plan.stdin_mode == "none":  # each target starts with its stdin closed
            return False
        for row in list(self.rows.values()):
            run = row.run
            if run is None:
                if row.state == "queued":
                    return True
            elif not run.done and (run.handle is None or row.label in self._starting or (
                    run.handle.running and not run.handle.stdin.closed)):
                return True
        return not self.ready.is_set()  # targets not known yet: they will be queued

    def _feed_once_started(self, label: str, run: Run, waiting: list[str | bytes | None]) -> None:
        feeding = asyncio.ensure_future(self._send_once_started(label, run, waiting))
        self._feeding.add(feeding)  # held: the loop keeps only a weak reference
        feeding.add_done_callback(self._feeding.discard)

    async def _send_once_started(self, label: str, run: Run,
                                 waiting: list[str | bytes | None]) -> None:
        """What was sent to a target while it started, written once it has (or dropped with
        a run that never starts)."""
        await run.until_started()
        del self._starting[label]
        handle = run.handle
        if handle is not None and handle.running and not handle.stdin.closed:
            for data in waiting:
                if data is None:
                    handle.stdin.close()
                    break
                handle.stdin.write(data)

    def close_stdin(self) -> None:
        self.stdin.close()
        if not self.ready.is_set() and self._early:
            self._early.append(None)
        for row in self.rows.values():
            if row.label in self._starting:  # after what was sent to it while it started
                self._starting[row.label].append(None)
            elif row.run is not None and row.run.handle is not None:
                row.run.handle.stdin.close()

    async def wait(self) -> FleetResult:
        return await asyncio.shield(self.task)

    # ---- the run ----------------------------------------------------------------------------
    async def _execute(self) -> FleetResult:
        try:
            targets = await self._targets()
        finally:
            self.ready.set()
        self.budget = self.options.fail_budget(len(targets))
        for row in self.rows.values():
            self.asking.watch(row.label, row.prompts)
        for target in targets:
            if target.pending is None:
                self.stdin.join(target.label)
                if self._early:  # sent before the targets were known
                    self._starting[target.label] = list(self._early)
        gate = asyncio.Semaphore(self.options.parallel)
        RUNS_AT_ONCE.set(min(self.options.parallel, len(targets)))  # this task's and its runs'
        await gather_all(*(self._one(t, gate) for t in targets if t.pending is None))
        results = {label: row.result for label, row in self.rows.items()}
        return FleetResult(self.plan.environment.name,
                           {k: v for k, v in results.items() if v is not None},
                           {k: row.state for k, row in self.rows.items()}, self._rerun)

    async def _targets(self) -> list[Target]:
        """The targets to run, in order, resolved and selected; a row for each."""
        expanded = self._expanded
        gate = asyncio.Semaphore(self.options.parallel)  # fleets10: 200 hosts connected at once

        async def bounded(target: Target) -> list[Target]:
            async with gate:
                return await self._resolve(target)

        resolved = [t for found in await asyncio.gather(*map(bounded, expanded)) for t in found]
        only = self.options.only
        if only is None:  # a rerun's containers gone are rows of their own
            await check_found(self.plan.environment.name, expanded, resolved, self._base,
                              self.options.limit)
        targets = limited_reached(resolved, self.options.limit, self._unseen,
                                  lenient=only is not None, names=self._names)  # a rerun's labels passed it once
        gone: list[str] = []
        if only is not None:  # a rerun: every label asked for gets its row
            targets = self._asked(resolved, targets, only)
            gone = [label for label in only
                    if not any(_rerun_of(t.label, [label]) for t in targets)]
        for target in targets:
            self.rows[target.label] = TargetRow(target.label, self._on_change,
                                                self.options.tail)
            if target.pending is not None:  # its label selector could not be resolved
                result, state = self._unresolved[target.label]
                self.failures += state == "failed"  # known before any start: --max-fail counts it
                self._end(self.rows[target.label], result, state)
        name = self.plan.environment.name
        alone = len(resolved) == 1 and resolved[0].label == ""  # no fan-out: one run now
        for label in gone:  # a container that stopped, a host no longer in the inventory
            row = self.rows[label] = TargetRow(label, self._on_change, self.options.tail)
            why = OrchError(f"{name!r} is no longer a fleet (its config names one target now):"
                            f" run it as one run, orch.run({name!r}, …)") if alone else OrchError(
                f"{label!r} is no longer a target of {name!r}: it was not found when the fleet "
                f"was resolved again")
            self._end(row, self._error(Target(label, self.plan.layers_to_run), why), "failed")
        return targets

    def _asked(self, resolved: list[Target], limited: list[Target], only: Collection[str]
               ) -> list[Target]:
        """The targets of a rerun of `only`: each label asked for that is still a target
        (fleets21: the limit read again, `web[0]` of an inventory since changed, dropped it
        as "not found"), and the containers found now on a host row asked for, as the limit
        (`limited`) keeps them. A container asked for on a host whose containers cannot be
        listed now has the host's row, under its own label (fleets20: it was said "no
        longer a target", hiding why, even a changed host key)."""
        kept, narrowed = [], {t.label for t in limited}
        for target in resolved:
            if target.label in only or _rerun_of(target.label, only) and target.label in narrowed:
                kept.append(target)
            elif target.pending is not None:
                for label in only:
                    if _under(label, target.label):
                        kept.append(dataclasses.replace(target, label=label))
                        result, state = self._unresolved[target.label]
                        self._unresolved[label] = (copy.copy(result), state)
        return kept

    async def _resolve(self, target: Target) -> list[Target]:
        """`target` with its containers found; a host that cannot be reached, or that hangs
        past the fleet's timeout or a stop, gets a row saying so (the others run)."""
        lookup = asyncio.ensure_future(resolve_checked(target, self._base, self._lookup))
        self._lookups.add(lookup)
        if self.stopping:  # stopped before the lookups began
            lookup.cancel()
        t0, state, timed_out = time.monotonic(), "failed", False
        try:
            return await asyncio.wait_for(lookup, self.options.timeout)
        except OrchError as exc:  # this part of the fleet is unreachable: say so in its row
            error: BaseException = exc
        except asyncio.TimeoutError:
            error, timed_out = OrchError("timed out finding its containers"), True
        except asyncio.CancelledError:
            if not (lookup.cancelled() and self.stopping):  # not by stop(): the fleet's own
                raise
            error, state = OrchError("stopped before it started"), "stopped"
        finally:
            self._lookups.discard(lookup)
            self.searching -= target.pending is not None
        target = unresolved(target)
        result = self._error(target, error, time.monotonic() - t0, interrupted=state != "failed")
        result.timed_out = timed_out
        if state == "failed":  # a row of its own: audited as every target is
            result.audit_id = self._lookup.failed(
                dataclasses.replace(self.plan, layers=target.layers), target.label, error, t0)
        self._unresolved[target.label] = (result, state)
        return [target]

    async def _one(self, target: Target, gate: asyncio.Semaphore) -> None:
        try:
            await self._queued(target, gate)
        finally:
            self.stdin.leave(target.label)

    async def _queued(self, target: Target, gate: asyncio.Semaphore) -> None:
        row = self.rows[target.label]
        async with gate:
            if self.stopping:
                return self._end(row, self._error(target, OrchError("stopped before it "
                                                                    "started")), "stopped")
            if self.budget is not None and self.failures > self.budget:
                why = f"skipped: more than {self.budget} target(s) failed (max_fail, --max-fail)"
                return self._end(row, self._error(target, OrchError(why)), "skipped")
            row.set("running")
            result = await self._attempt(target, row)
        state = "ok" if result.ok else "stopped" if result.interrupted else "failed"
        if state == "failed":
            self.failures += 1
        self._end(row, result, state)

    async def _attempt(self, target: Target, row: TargetRow) -> RunResult:
        plan = dataclasses.replace(self.plan, layers=target.layers)
        sinks = [*self._sinks(target.label), row]
        steps = [s.for_steps() if isinstance(s, StepsApart) else s for s in sinks]
        t0 = time.monotonic()
        try:
            options = RunOptions(sinks=sinks, step_sinks=lambda step, kind: steps,
                                 stdin=self.stdin.attach(target.label),
                                 # input sent while it was queued is written first, then EOF
                                 close_stdin=self.stdin.closes and target.label not in
                                 self._starting, timeout=self.options.timeout,
                                 memory=self.memory, target=target.label)
            row.run = self._begin(plan, options, target.label)
            waiting = self._starting.get(target.label)
            if waiting is not None:  # input sent while it was queued
                self._feed_once_started(target.label, row.run, waiting)
            return await row.run.wait()
        except Exception as exc:  # refused, unreachable, host key changed: this target only
            result = self._error(target, exc, time.monotonic() - t0, interrupted=self.stopping)
            result.audit_id = row.run.audit_id if row.run is not None else None  # its records
            return result

    def _end(self, row: TargetRow, result: RunResult, state: str) -> None:
        row.result = result
        row.set(state)

    def _error(self, target: Target, error: BaseException, duration: float = 0.0, *,
               interrupted: bool = False) -> RunResult:
        """The RunResult of a target that failed before its process ran (or never started)."""
        return unstarted(dataclasses.replace(self.plan, layers=target.layers), error,
                         duration=duration, interrupted=interrupted,
                         timeout=self.options.timeout)


def _under(label: str, host: str) -> bool:
    """Whether `label` is a container's on the host labelled `host`."""
    return label.startswith(f"{host}/")


def _rerun_of(label: str, only: Collection[str]) -> bool:
    """Whether a rerun of the targets `only` runs `label`: one of them, or a container found on
    a host whose containers could not be listed before (its row was the host's label)."""
    return label in only or "/" in label and label.rpartition("/")[0] in only
