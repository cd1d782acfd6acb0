"""Admission of a run: the guardrails first, then the audit record — before anything starts.

`Gate.admit` runs in the caller's thread (a confirmation may ask a person: a terminal prompt,
or the kernel's stdin request, which only the cell's thread can make) and returns a `Ticket`.
`Gate.begin` runs on the loop that will run the command: it takes the ticket (or admits
without asking), writes the start record — a run that cannot be recorded does not happen —
adds the output digest, and writes the end record when the run is over.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
import time
import weakref
from collections.abc import Awaitable, Callable, Collection, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

from .audit import (
    AuditLog,
    OutputDigest,
    closed_record,
    cut_short_record,
    end_record,
    failed_after_record,
    refused_record,
    start_record,
)
from .audit.syncer import SYNCER
from .config.model import Environment
from .config.suggest import did_you_mean
from .engine import Run, RunOptions
from .errors import ConfigError
from .guard import Asker, Confirmation, ConfirmationRefused, Guard, Scope, check_allowed
from .kernel_input import asker_here, watch_here
from .plan import PlannedStep, RunPlan
from .process.handle import ProcessHandle
from .result import RunResult
from .secrets.masking import get_logger
from .shutdown import when_cut_short
from .sinks.base import Sink

_log = get_logger(__name__)
R = TypeVar("R")
#: Start records of what has not ended yet, by id, with their log: a TERM that ends the
#: process before they end has them closed as cut short (runs6: 39 of 50 named runs were
#: left `running?` in the trail for ever).
_UNENDED: dict[str, AuditLog] = {}
_UNENDED_LOCK = threading.Lock()


def _end_unended(why: str) -> None:
    """Write an end record, `why` it is not known, for every start still open; made durable
    before the process ends."""
    with _UNENDED_LOCK:
        unended = list(_UNENDED.items())
        _UNENDED.clear()
    for run_id, log in unended:
        with contextlib.suppress(Exception):
            log.append(cut_short_record(run_id, why), sync=True)
    SYNCER.flush(2.0)


def _forget_unended() -> None:
    """A forked child owns none of its parent's runs: their records are not its to end."""
    global _UNENDED_LOCK
    _UNENDED.clear()
    _UNENDED_LOCK = threading.Lock()


when_cut_short(_end_unended)
os.register_at_fork(after_in_child=_forget_unended)


@dataclass(frozen=True)
class Ticket:
    """A run let in: how it was confirmed (None: not protected) and where it came from.

    Only the gate that issued it, for the environment and service it admitted, takes it as
    admitted: a `Ticket()` made by hand, or one of another environment, is admitted again.
    """

    confirmation: Confirmation | None = None
    origin: Mapping[str, str] = field(default_factory=dict)
    environment: Environment | None = field(default=None, repr=False, compare=False)
    service: str | None = None
    issuer: object = field(default=None, repr=False, compare=False)


class Gate:
    """The one door every run of an Orchestrator goes through."""

    def __init__(self, audit_log: Callable[[], AuditLog | None],
                 environment: Callable[[str], Environment],
                 written: Callable[[RunPlan], None] = lambda plan: None) -> None:
        """`environment(name)`: the config's environment of that name, or a ConfigError with
        did-you-mean (a misspelt `--yes` is said, not silently ignored); `written(plan)`
        raises when a plan is not its service as the config writes it, where that is all
        that may run (`plan.check_written`)."""
        self.guard = Guard()
        watch_here()  # in a notebook: whether a person is there, for its other threads
        self._environment = environment
        self._written = written
        #: Plans made from the config, or checked against it, when they were admitted: a
        #: named run's next attempt runs its plan as made (review29: a check of each against
        #: the config as edited since refused every restart of an edited service).
        self._vouched: weakref.WeakValueDictionary[int, RunPlan] = weakref.WeakValueDictionary()
        #: Set by a front end that can ask a person (CLI on a terminal, a kernel with stdin).
        self.ask: Asker | None = None
        #: Set by a front end that knows more about where runs come from (notebook, cell).
        self.origin: Callable[[], Mapping[str, str]] | None = None
        self._audit_log = audit_log

    def admit(self, plan: RunPlan, *, yes: str | Collection[str] = (),
              front_end: str = "api", interactive: bool = True,
              scope: Scope | str | None = None) -> Ticket:
        """Check and confirm `plan` now (`scope`: a fleet's targets, said in the question);
        raises OrchError when it may not run."""
        names = [yes] if isinstance(yes, str) else list(yes) if isinstance(yes, Collection) else None
        if names is None or not all(isinstance(name, str) for name in names):
            raise ConfigError(f"yes names environments (a str or a list of str), got {yes!r}")
        for name in filter(None, names):
            self._known(name, front_end, plan.environment.name)
        origin = {"front_end": front_end, **(self.origin() if self.origin else {})}
        try:
            ask = (self.ask or asker_here()) if interactive else None  # a notebook's own API
            confirmation = self.guard.admit(plan, ask=ask, yes=names, front_end=front_end,
                                             scope=scope)
        except ConfirmationRefused as refusal:
            refusal.audit_id = self._record_refusal(plan, origin, str(refusal))
            raise
        except KeyboardInterrupt:  # Ctrl-C at the question (the CLI's; the magic's refuses)
            self._record_refusal(plan, origin, "not run: interrupted at the confirmation")
            raise
        return Ticket(confirmation, origin, plan.environment, _service(plan), self)

    def _record_refusal(self, plan: RunPlan, origin: Mapping[str, str], reason: str
                        ) -> str | None:
        """Write who was refused at a protected environment's door, and why; the record's id
        (None: not audited). The refusal is what the caller hears: a log that cannot take the
        record is warned about, not raised."""
        try:
            log = self._audit_log()
            if log is not None:
                record = refused_record(plan, reason, origin=origin)
                log.append(record, sync=True)
                return str(record["id"])
        except Exception as exc:
            _log.warning("audit: the refused run in %r was not recorded: %s",
                         plan.environment.name, exc)
        return None

    def _known(self, name: str, front_end: str, running: str) -> None:
        """Raise unless `name`, given to confirm, is an environment of the config: a typo
        (`--yes prodution`) confirms nothing, and the person who typed it should know; of
        names as near, the one it runs in is suggested (files10: `prd` was offered `pod`)."""
        try:
            self._environment(name)
        except ConfigError as error:
            given = f"yes={name!r}" if front_end == "api" else f"--yes {name}"
            suggestion = error.suggestion
            if suggestion is not None and did_you_mean(name, [running, suggestion]) == running:
                suggestion = running
            raise ConfigError(f"{given}: {error.message}", suggestion=suggestion) from None

    def checked(self, plan: RunPlan, ticket: Ticket | None) -> Ticket:
        """`ticket` when this gate issued it for `plan`'s environment and service and the
        environment's allow lists let `plan` in (a ticket confirms, it does not widen what may
        run: `env=` or `cwd=` given with it are checked too); else the plan admitted now,
        without asking anyone."""
        if not self.vouched(plan):
            self._written(plan)
        if (ticket is not None and ticket.issuer is self and ticket.service == _service(plan)
                and ticket.environment == plan.environment):
            check_allowed(plan)
            return ticket
        return self.admit(plan, interactive=False)

    def as_written(self, plan: RunPlan) -> RunPlan:
        """`plan` checked as the config writes it (unless made from it), then vouched for:
        what is made of it (a fleet's targets, resolved as it runs) needs no check of its
        own, against a config whose inventory may have changed since (a rerun)."""
        if not self.vouched(plan):
            self._written(plan)
        return self.vouch(plan)

    def vouch(self, plan: RunPlan) -> RunPlan:
        """Take `plan` as made from the config (or checked against it): see `_vouched`."""
        self._vouched[id(plan)] = plan
        return plan

    def vouched(self, plan: RunPlan) -> bool:
        return self._vouched.get(id(plan)) is plan

    def begin(self, plan: RunPlan, options: RunOptions, ticket: Ticket | None, chain: str,
              start: Callable[[RunOptions], Run], target: str | None = None) -> Run:
        """Start the run through `start` once admitted and recorded (`target`: the label of
        one target of a fleet, written in its audit records)."""
        ticket = self.checked(plan, ticket)
        log = self._audit_log()
        if log is None:
            return start(options)
        record = _started(log, plan, ticket, chain, target)
        digest = OutputDigest(hashing=log.digests)
        steps: list[OutputDigest] = []  # of the pre and post commands, in the order they ran

        def step_sinks(step: PlannedStep, kind: str) -> list[Sink]:
            steps.append(OutputDigest(hashing=log.digests))
            return [*options.sinks_of_step(step, kind), steps[-1]]

        run = start(replace(options, sinks=[*options.sinks, digest], step_sinks=step_sinks))
        run.audit_id = record["id"]
        began = time.monotonic()
        run.task.add_done_callback(
            lambda task: _record_end(log, record["id"], task, digest, steps, began))
        return run

    async def launch(self, plan: RunPlan, ticket: Ticket | None, chain: str,
                     start: Callable[[], Awaitable[ProcessHandle]]) -> ProcessHandle:
        """Start a bare process through `start` once admitted and recorded (what
        `Orchestrator.launch` hands over): its end record carries the exit status, and no
        output digest (the caller reads the raw events, not our pipeline)."""
        ticket = self.checked(plan, ticket)
        log = self._audit_log()
        if log is None:
            return await start()
        record = _started(log, plan, ticket, chain)
        opened = time.monotonic()
        try:
            handle = await start()
        except BaseException as error:
            _append_end(log, closed_record(record["id"], time.monotonic() - opened, error))
            raise
        handle.when_done(lambda ended: _append_end(
            log, closed_record(record["id"], time.monotonic() - opened, exit=ended)))
        return handle

    def resolved(self, plan: RunPlan, ticket: Ticket, resolve: Callable[[], R]) -> R:
        """`resolve()` (the admitted `plan` with its secrets read), recorded as `unresolved`
        when that fails: every front end leaves the attempt in the trail (safety15: only the
        API did)."""
        try:
            return resolve()
        except BaseException as error:
            self.unresolved(plan, ticket, error)
            raise

    def unresolved(self, plan: RunPlan, ticket: Ticket, error: BaseException) -> None:
        """Record a run confirmed at a protected environment that never started: what it
        needed could not be had (a secret no provider holds, Ctrl-C at a secret's prompt).
        The confirmation is in its start record, why in its end (safety13: none was left)."""
        log = self._audit_log()
        if ticket.confirmation is None or log is None:
            return
        try:
            record = _started(log, plan, ticket, plan.hops)
            _append_end(log, closed_record(record["id"], 0.0, error))
        except Exception as exc:  # the error is what the caller hears
            _log.warning("audit: the run in %r not started was not recorded: %s",
                         plan.environment.name, exc)

    def failed_after(self, run_id: str | None, why: str) -> None:
        """Record that what run `run_id` was for failed after it ended (a copy: files10, whose
        trail said `exit 0` or `interrupted` for a sha256 mismatch or a full disk)."""
        log = self._audit_log()
        if run_id is not None and log is not None:
            _append_end(log, failed_after_record(run_id, why))

    def check_recordable(self, plan: RunPlan, ticket: Ticket) -> None:
        """Raise unless `plan` is admitted and the audit log can take its records now (a
        fleet's lookup of its containers connects before its targets' records are written)."""
        self.checked(plan, ticket)
        log = self._audit_log()
        if log is not None:
            log.check()

    def open_session(self, plan: RunPlan, ticket: Ticket, chain: str, target: str | None = None,
                     began: float | None = None
                     ) -> tuple[str | None, Callable[[BaseException | None], object]]:
        """Audit something that is not a run (a port forward): its start record now, so it
        does not happen unless recorded. Its record's id (None: not audited), and the callable
        that writes its end record. `began`: when it began (monotonic), if before now."""
        ticket = self.checked(plan, ticket)
        log = self._audit_log()
        if log is None:
            return None, lambda error: None
        record = _started(log, plan, ticket, chain, target)
        opened = time.monotonic() if began is None else began
        return record["id"], lambda error: _append_end(
            log, closed_record(record["id"], time.monotonic() - opened, error))


def _service(plan: RunPlan) -> str | None:
    return plan.service.name if plan.service else None


def _started(log: AuditLog, plan: RunPlan, ticket: Ticket, chain: str,
             target: str | None = None) -> dict[str, Any]:
    """Write the start record (raises OrchError when the log cannot be written)."""
    confirmation = ticket.confirmation.as_record() if ticket.confirmation else None
    record = start_record(plan, chain, origin=ticket.origin, confirmation=confirmation,
                          target=target)
    log.append(record)  # end records are fsync'ed; a start is followed by its end
    with _UNENDED_LOCK:
        _UNENDED[record["id"]] = log
    return record


def _record_end(log: AuditLog, run_id: str, task: asyncio.Task[RunResult], digest: OutputDigest,
                steps: list[OutputDigest], began: float) -> None:
    result: RunResult | None = None
    error: BaseException | None = None
    if task.cancelled():
        error = RuntimeError("cancelled")
    elif task.exception() is not None:
        error = task.exception()
    else:
        result = task.result()
    failed = _append_end(log, end_record(run_id, result, digest, error, steps,
                                         tried=time.monotonic() - began))
    if result is not None and failed is not None:  # safety12: said only in a log line
        result.audit_error = failed  # (its awaiters resume after this callback)


def _append_end(log: AuditLog, record: dict[str, Any]) -> str | None:
    """Write an end record, fsync'ed soon after; it is over: nothing to refuse any more, so a
    failure is said (and returned), not raised."""
    with _UNENDED_LOCK:
        _UNENDED.pop(record["id"], None)
    try:
        log.append(record, sync=True)
    except Exception as exc:
        _log.warning("audit: the end of %s was not recorded: %s", record["id"], exc)
        return f"the end of audit record {record['id']} was not written: {exc}"
    return None
