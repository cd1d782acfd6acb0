"""The Orchestrator: the Python API over config, plans, layers and sinks.

One async core (`launch`, `arun`) runs on the caller's loop; the sync facade (`run`, `start`)
runs the same core on a private background loop, which also keeps pooled connections alive.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import os
import weakref
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ._loop import (
    BackgroundLoop,
    background_loop,
    close_on_their_loops,
    refuse_on_loop,
)
from .admission import Gate, Ticket
from .arguments import (
    check_given,
    check_plan_of,
    checked_config,
    checked_keeping,
    checked_resolver,
)
from .asking import awaited_run
from .audit import AuditLog
from .config.freshness import AsGiven, ReadAgain
from .config.loader import load_config
from .config.model import Config, StdinMode
from .engine import Run, RunOptions
from .errors import RunCancelled
from .fleet.options import FleetOptions
from .guard import Scope, check_allowed
from .keywords import keywords_checked
from .layers.base import LaunchContext, Launcher
from .layers.local import LocalLauncher
from .lifecycle import DEFAULT_CAPTURE_LIMIT, Supervisor
from .live import LiveRun, begun
from .named_runs import RunRegistry
from .plan import RunPlan, guarded_now, make_plan, replanned
from .plan_written import check_written
from .process.handle import ProcessHandle
from .restart_policy import RestartPolicy
from .result import RunResult
from .run_management import RunManagement, attempt_now
from .run_names import choose
from .secrets.placeholders import Resolver
from .secrets.prompt import forget_scope
from .shutdown import SpawnedRuns, close_at_exit
from .sinks.base import Sink, Sinks, check_sinks
from .sinks.log_file import DEFAULT_LOG_MAX_BYTES, LogFile
from .sinks.ring import RingBuffer
from .stdin import StdinSource
from .transfer_methods import FilesAndPorts

if TYPE_CHECKING:
    from .fleet import FleetResult, Fleets, LiveFleet


@keywords_checked
class Orchestrator(RunManagement, FilesAndPorts):
    """Runs services and commands in the environments of a Config."""

    _contexts: dict[asyncio.AbstractEventLoop, LaunchContext]  # pooled connections per loop
    _bg: BackgroundLoop | None

    def __init__(self, config: Config | str | os.PathLike[str] | None = None, *,
                 resolver_factory: Callable[[], Resolver] | None = None, log_dir: str | os.PathLike[str] | None = None,
                 restart_backoff: tuple[float, float] = (1.0, 30.0),
                 log_max_bytes: int = DEFAULT_LOG_MAX_BYTES,
                 capture_limit: int = DEFAULT_CAPTURE_LIMIT) -> None:
        """`config`: a Config or a config file's path (None: found when first needed).
        `resolver_factory()` makes the secret Resolver of each plan (default: the config's
        `secrets` providers). Named runs log to `log_dir/<name>.log` (default `$ORCH_LOG_DIR`,
        else `~/.cache/orch_magics/logs`), rotated to `<name>.log.1` past `log_max_bytes`, and
        keep the last `capture_limit` bytes of each stream in their RunResult.
        `restart_backoff`: the first and the longest delay between automatic restarts."""
        given = checked_config(config)
        #: Where the configuration comes from: a Config object given is kept as given; files,
        #: named or found automatically, are read again when they change.
        self._source: AsGiven | ReadAgain = AsGiven(config) if isinstance(config, Config) else \
            ReadAgain(given.origin if given is not None else None, given)
        if isinstance(config, Config) and not config.origin:  # what was typed for a text
            weakref.finalize(config, forget_scope, self._source.scope)  # config goes with it
        self._resolver_factory = checked_resolver(resolver_factory) or (
            lambda: Resolver.from_settings(self.config.secrets, scope=self._source.scope))
        self.after_fork()
        self.log_dir, self.restart_backoff, self.log_max_bytes, self.capture_limit = (
            checked_keeping(log_dir, restart_backoff, log_max_bytes, capture_limit))
        self.gate = Gate(self._audit_log, lambda name: self.config.environment(name),
                         lambda plan: check_written(plan, self.config))

    @functools.cached_property  # fleet/ and transfer/ load on first use: single runs skip them
    def fleets(self) -> Fleets:
        """Runs on fleet environments (what run/arun/start delegate to for them)."""
        from .fleet import Fleets
        return Fleets(self)

    # ---- configuration ----------------------------------------------------------------------
    @property
    def config(self) -> Config:
        """The configuration: a Config given is kept; one read from files (named, or found
        automatically) is read again when they changed, or another folder's would be found."""
        return self._source.current()

    def load(self, *files: str | os.PathLike[str]) -> Config:
        """Replace the configuration: read from `files` (found automatically when none are
        given), and again whenever they change."""
        config = load_config(*files)
        self._source = ReadAgain(config.origin if files else None, config)
        return config

    def plan(self, environment: str, service: str | None = None, *,
             command: str | Sequence[str] | None = None, env: Mapping[str, str] | None = None,
             cwd: str | None = None, stdin_mode: StdinMode | None = None, tty: bool | None = None,
             dry_run: bool = False, used: int | None = None) -> RunPlan:
        """Resolve a run without starting it (`dry_run`, `used`: see make_plan). A run the
        environment's allow lists refuse is refused before any secret provider is asked."""
        return make_plan(self.config, environment, service, command=command, env=env, cwd=cwd,
                         resolver=self._resolver_factory(), stdin_mode=stdin_mode, tty=tty,
                         dry_run=dry_run, admissible=check_allowed, used=used)

    def replanned(self, plan: RunPlan, admit: Callable[[RunPlan], None] = check_allowed) -> RunPlan:
        """`plan` with its environment as the config has it now (see `plan.replanned`); a
        plan of ours stays ours (`Gate.vouch`: a restart runs its plan as made)."""
        again = replanned(plan, self.config, self._resolver_factory(), admit)
        return self.gate.vouch(again) if self.gate.vouched(plan) else again

    def _admitted(self, plan: RunPlan | None, ticket: Ticket | None,
                  admit: Callable[[RunPlan], Ticket], environment: str, service: str | None,
                  **how: Any) -> tuple[RunPlan, Ticket]:
        """A run's plan and ticket: as given, else made here and admitted (`admit`) before it
        is resolved, so a protected environment is confirmed before any secret is asked."""
        tickets = [] if ticket is None else [ticket]
        admitted: list[RunPlan] = []  # the plan, as confirmed before its secrets are read

        def admissible(dry: RunPlan) -> None:
            if tickets:
                return check_allowed(dry)
            tickets.append(admit(dry))
            admitted.append(dry)

        check_plan_of(plan, environment)
        if plan is not None:  # refused before anyone is asked (begin checks again)
            check_written(plan, self.config)
        try:
            plan = guarded_now(plan, self.config) if plan is not None else make_plan(
                self.config, environment, service, resolver=self._resolver_factory(),
                admissible=admissible, **how)
        except BaseException as error:  # confirmed, then a secret could not be had
            if admitted:
                self.gate.unresolved(admitted[0], tickets[0], error)
            raise
        return self.gate.vouch(plan), tickets[0] if tickets else admit(plan)

    def _to_run(self, plan: RunPlan | None, environment: str, service: str | None,
                stdin: StdinSource, sinks: Sinks, yes: str | Collection[str], options:
                FleetOptions, **how: Any) -> tuple[RunPlan, Ticket, FleetOptions | None, Sinks]:
        """run/arun's plan admitted, its fleet options (None: one process), its sinks checked."""
        sinks = check_given(stdin, sinks)
        plan, ticket = self._admitted(plan, None, self._either(
            options.for_plan, yes, "api", lambda p, fleet: fleet or check_sinks(sinks)),
            environment, service, **how)
        return plan, ticket, options.for_plan(plan), sinks

    def _one(self, yes: str | Collection[str]) -> Callable[[RunPlan], Ticket]:
        """How a run of one process is admitted (a fan-out is refused before anyone asks)."""
        return self._either(lambda plan: None, yes, "api", lambda plan, _: plan.check_one_target())

    def _either(self, fleet_of: Callable[[RunPlan], FleetOptions | None],
                yes: str | Collection[str], front_end: str,
                first: Callable[[RunPlan, FleetOptions | None], object]
                ) -> Callable[[RunPlan], Ticket]:
        """How a run or a fleet is admitted: what the allow lists refuse first, then what
        `first(plan, fleet options)` checks, before anyone is asked."""
        def admit(plan: RunPlan) -> Ticket:
            check_allowed(plan)
            fleet = fleet_of(plan)
            first(plan, fleet)
            return (self.fleets.admit(plan, fleet, yes, front_end) if fleet is not None
                    else self.admit(plan, yes=yes, front_end=front_end))
        return admit

    # ---- the one way into the engine ---------------------------------------------------------
    def _context(self) -> LaunchContext:
        loop = asyncio.get_running_loop()
        if (ctx := self._contexts.get(loop)) is None:  # a new loop: others may have ended
            for ended in [other for other in self._contexts if other.is_closed()]:
                self._contexts.pop(ended).cut()
            ctx = self._contexts.setdefault(loop, LaunchContext())
        return ctx

    def launcher_for(self, plan: RunPlan) -> Launcher:
        """One process's layer chain, on this loop's pooled context (a fan-out is refused)."""
        plan.check_one_target()
        return plan.launcher(LocalLauncher(self._context()))

    def admit(self, plan: RunPlan, *, yes: str | Collection[str] = (),
              front_end: str = "api", scope: Scope | str | None = None) -> Ticket:
        """Check what may run and confirm a protected environment, in the caller's thread
        (it may ask a person; `scope`: a fleet's targets); pass the ticket to `begin`.
        Raises OrchError when refused."""
        return self.gate.admit(plan, yes=yes, front_end=front_end, scope=scope)

    def begin(self, plan: RunPlan, options: RunOptions = RunOptions(),
              ticket: Ticket | None = None, target: str | None = None) -> Run:
        """Start a run on the running loop and return its handle (every front end ends here);
        without a ticket the plan is admitted without asking anyone. Audited (`target`: the
        label of a fleet's target, kept in its audit records)."""
        launcher = self.launcher_for(plan)
        if plan.stdout_mode == "file":
            options = dataclasses.replace(options, kept=self.kept_files())
        return self.gate.begin(plan, options, ticket, launcher.chain,
                               lambda opts: Run(plan, launcher, opts), target)

    def kept_files(self) -> dict[str, str]:
        """The files orch reads and writes for this config (path → what it is): no run's
        output and no copy may replace one."""
        c, log = self._source.last(), self._audit_log()
        kept = {path: "a config file" for path in (*c.files, *c.origin) if os.path.isfile(path)}
        kept.update({path: "an inventory" for path in c.inventories})
        kept.update({c.secrets.file: "the secrets file"} if c.secrets.file else {})
        return {**kept, log.path: "the audit log"} if log is not None else kept

    def _audit_log(self) -> AuditLog | None:
        s = self._source.last().audit  # admitted runs go on when the file is saved wrong
        return AuditLog(s.path, digests=s.digests) if s.enabled else None

    async def launch(self, environment: str, service: str | None = None, *,
                     command: str | Sequence[str] | None = None,
                     env: Mapping[str, str] | None = None, cwd: str | None = None,
                     tty: bool | None = None, yes: str | Collection[str] = (),
                     ticket: Ticket | None = None) -> ProcessHandle:
        """Start the main command (not pre/post) and return its live handle; admitted as by
        `arun` (allow lists; protection: `yes` or a `ticket` from `admit`), audited at both ends."""
        plan, ticket = self._admitted(None, ticket, self._one(yes), environment, service,
                                      command=command, env=env, cwd=cwd, tty=tty)
        launcher = self.launcher_for(plan)
        handle = await self.gate.launch(plan, ticket, launcher.chain,
                                        lambda: launcher.launch(plan.command))
        self._context().stops_first(handle.stop, handle.when_done)  # close() stops it too
        if plan.stdin_mode == "none":
            handle.stdin.close()
        return handle

    async def arun(self, environment: str, service: str | None = None, *,
                   command: str | Sequence[str] | None = None, stdin: StdinSource = None,
                   timeout: float | None = None, env: Mapping[str, str] | None = None,
                   cwd: str | None = None, sinks: Sinks = (),
                   plan: RunPlan | None = None, yes: str | Collection[str] = (),
                   limit: str | None = None, parallel: int | None = None,
                   max_fail: int | str | None = None) -> RunResult | FleetResult:
        """`run` on the current loop: a RunResult, or a fleet's FleetResult (docs/fleets.md)."""
        plan, ticket, fleet, sinks = self._to_run(
            plan, environment, service, stdin, sinks, yes, FleetOptions.of(
                limit, parallel, max_fail, timeout), command=command, env=env, cwd=cwd)
        if fleet is not None:
            return await self.fleets.arun(plan, fleet, stdin=stdin, sinks=sinks, ticket=ticket)
        options = RunOptions(sinks=check_sinks(sinks), stdin=stdin, timeout=timeout)
        run = self.begin(plan, options, ticket)
        return await awaited_run(run.task, run.stop,
                                 lambda r: RunCancelled(r, r.describe_failure()))

    # ---- sync facade ------------------------------------------------------------------------
    @property
    def loop(self) -> BackgroundLoop:
        bg = background_loop()
        if bg is not self._bg:  # first use; or a forked child, without its parent's loop
            if self._bg is not None:
                self.after_fork()
            self._bg = bg
        return bg

    def after_fork(self) -> None:
        """Own nothing: when made, and in a child forked by multiprocessing (the parent's loop
        thread, pooled connections, runs and forwards stay the parent's)."""
        self._contexts, self._bg = {}, None
        self.runs, self._spawned = RunRegistry(), SpawnedRuns()
        for name in ("fleets", "forwards"):
            vars(self).pop(name, None)

    def spawn(self, environment: str, service: str | None = None, *,
              command: str | Sequence[str] | None = None, stdin: StdinSource = None,
              close_stdin: bool | None = None, timeout: float | None = None,
              env: Mapping[str, str] | None = None, cwd: str | None = None,
              sinks: Sequence[Sink] = (), plan: RunPlan | None = None,
              yes: str | Collection[str] = (), ticket: Ticket | None = None) -> LiveRun:
        """Start a run on the background loop and return at once with a LiveRun (unnamed); stdin
        stays open for `LiveRun.send` unless a `stdin` source is given or the service's
        stdin_mode is `none`. A `ticket` from `admit` skips admitting the plan again."""
        options = RunOptions(sinks=sinks, stdin=stdin, close_stdin=close_stdin, timeout=timeout)
        plan, ticket = self._admitted(plan, ticket, self._one(yes), environment, service,
                                      command=command, env=env, cwd=cwd)
        plan.check_one_target()  # a fleet runs through run or start
        return begun(self.loop, lambda: self.begin(plan, options, ticket), self._track)

    def _track(self, live: LiveRun) -> None:
        """Remember a live run until it ends, so close() and interpreter exit stop it."""
        close_at_exit(self)
        self._spawned.add(live)

    # ---- named background runs ------------------------------------------------------------
    def start(self, environment: str, service: str | None = None, *,
              command: str | Sequence[str] | None = None, name: str | None = None,
              sinks: Sinks = (), restart: str | None = None,
              max_restarts: int | None = None, stdin: StdinSource = None,
              close_stdin: bool | None = None, timeout: float | None = None,
              env: Mapping[str, str] | None = None, cwd: str | None = None,
              plan: RunPlan | None = None, yes: str | Collection[str] = (),
              ticket: Ticket | None = None, limit: str | None = None,
              parallel: int | None = None, max_fail: int | str | None = None,
              tail: int | None = None, front_end: str = "api") -> LiveRun | LiveFleet:
        """Start a run or a fleet in the background under a name (runs and fleets share one
        namespace; default: the service's, numbered when taken) for ps/logs/stop.

        The service's `restart` (`no`, `on-failure`, `always`) and `max_restarts` apply, or
        the `restart=` / `max_restarts=` given here. Output is kept in a bounded ring buffer
        (`logs`) and appended to `<log_dir>/<name>.log` (`status(name).log_file`), rotated
        past `log_max_bytes`; the RunResult keeps the last `capture_limit` bytes of each
        stream as whole lines and says what it dropped (`truncated`, `stdout_dropped`)."""
        sinks = check_given(stdin, sinks)
        fleet_of = FleetOptions.of(limit, parallel, max_fail, timeout, tail).for_plan

        def checked(plan: RunPlan, fleet: FleetOptions | None) -> RestartPolicy:
            policy = RestartPolicy.of(plan.service, restart, max_restarts, self.restart_backoff,
                                      fleet=fleet is not None)
            if fleet is None:
                check_sinks(sinks)  # a callable: fleets only
            return policy

        plan, ticket = self._admitted(plan, ticket, self._either(fleet_of, yes, front_end, checked),
                                      environment, service, command=command, env=env, cwd=cwd)
        fleet = fleet_of(plan)  # one ticket for every attempt
        policy, own_sinks = checked(plan, fleet), () if fleet is not None else check_sinks(sinks)
        with self.runs.naming:  # chosen and taken at once: two starts never share a name
            name = choose(name, plan.service.name if plan.service else "command",
                          lambda taken: self.runs.running(taken) or self.fleets.running(taken))
            if fleet is not None:
                live = self.fleets.start_named(plan, fleet, name, ticket, stdin=stdin,
                                               sinks=sinks, close_stdin=close_stdin)
                self.runs.forget(name)  # one namespace: a finished run of that name is replaced
                return live
            log_file = LogFile(os.path.join(self.log_dir, f"{name}.log"), self.log_max_bytes)
            options = RunOptions(sinks=own_sinks, stdin=stdin, close_stdin=close_stdin,
                                 timeout=timeout, capture_limit=self.capture_limit)
            supervisor = Supervisor(name, plan, self.loop, ring=RingBuffer(), policy=policy,
                                    begin=lambda p, o: self.begin(attempt_now(self, p), o,
                                                                  ticket),
                                    log_file=log_file, options=options)
            close_at_exit(self)
            attempt = self.runs.start(name, supervisor)
            self.fleets.forget(name)
        return attempt

    def run(self, environment: str, service: str | None = None, *,
            command: str | Sequence[str] | None = None, stdin: StdinSource = None,
            timeout: float | None = None, env: Mapping[str, str] | None = None,
            cwd: str | None = None, sinks: Sinks = (),
            yes: str | Collection[str] = (), limit: str | None = None, parallel: int | None = None,
            max_fail: int | str | None = None) -> RunResult | FleetResult:
        """Run to the end and return the RunResult (blocks; Ctrl-C stops the whole chain).

        stdin is sent then closed (EOF); without it the process sees EOF at once. `yes` names
        the protected environment(s) this call may run in without asking. On a fleet
        environment: a FleetResult, with `limit`, `parallel` and `max_fail` as in docs/fleets.md."""
        plan, ticket, fleet, sinks = self._to_run(
            None, environment, service, stdin, sinks, yes, FleetOptions.of(
                limit, parallel, max_fail, timeout), command=command, env=env, cwd=cwd)
        if fleet is not None:
            return self.fleets.run(plan, fleet, stdin=stdin, sinks=sinks, ticket=ticket)
        return self.spawn(environment, service, stdin=stdin, close_stdin=True, timeout=timeout,
                          sinks=check_sinks(sinks), plan=plan, ticket=ticket).wait()

    async def aclose(self) -> None:
        """Stop the runs of the current loop, then close its pooled connections."""
        if (ctx := self._contexts.pop(asyncio.get_running_loop(), None)) is not None:
            await ctx.aclose()

    def close(self) -> None:
        """Stop every run and forward it started, then close every pooled connection."""
        refuse_on_loop("close()")  # it waits for the runs that loop runs (files7: 40 s, then
        if "forwards" in vars(self):  # a bare TimeoutError)
            self.forwards.close_all()
        if self._bg is not None:
            self.stop_all()
        close_on_their_loops(self._contexts, self._bg)

    def __enter__(self) -> Orchestrator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

