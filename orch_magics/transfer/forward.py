"""Port forwards: a local port on 127.0.0.1 that reaches HOST:PORT as the chain's last SSH
host sees it, through that hop's pooled connection (a `direct-tcpip` channel per client).

A chain without an SSH hop forwards directly from this machine (its "last host" is this one;
a container's port is reached by its address here). Opening is guarded like a run (a
protected environment asks first) and probes the target once, so a wrong port is a clear
error at once instead of connections that close silently later. The port keeps listening
when the connection under it drops (the next client reconnects, connectors.py); closing it
cuts the connections it carries.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import itertools
import os
import socket
import threading
import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from .._loop import BackgroundLoop, Interrupted, on_loop_thread, run_or_cancel
from ..admission import Gate, Ticket
from ..config.model import LayerSpec
from ..config.suggest import did_you_mean
from ..errors import ConfigError, OrchError
from ..fleet.lookup import recordable, resolve_all
from ..fleet.select import read_limit
from ..fleet.targets import Target, expand, planned_scope, the_one
from ..guard import Scope, check_allowed
from ..keywords import keywords_checked
from ..layers.base import Launcher, Pooled, TunnelCarrier
from ..layers.registry import get_kind
from ..plan import RunPlan
from .connectors import CONNECT_TIMEOUT, Channels, Through, direct, reason
from .forward_health import Health
from .forward_target import ForwardError, address, check_host, check_port
from .held import Held
from .model import ForwardInterrupted
from .peer_user import SOCKETS
from .relay import Connect, Reader, Relay, Writer, bound

#: Seconds the hop under a forward's clients has to answer a keepalive (asked every
#: relay.WATCH_EVERY s while it carries some): longer than a stop's, as bulk data may be
#: queued before it.
WATCH_ANSWER = 10.0


class Places(Protocol):
    """What a forward needs from the Orchestrator: plan, admit and audit, the built chain."""

    gate: Gate

    def plan(self, environment: str, service: str | None = None, *,
             command: str | Sequence[str] | None = None, dry_run: bool = ...,
             used: int | None = ...) -> RunPlan: ...

    def admit(self, plan: RunPlan, *, yes: str | Collection[str] = ...,
              front_end: str = ..., scope: Scope | None = ...) -> Ticket: ...

    def launcher_for(self, plan: RunPlan) -> Launcher: ...


@dataclass
class Forward:
    """An open forward: 127.0.0.1:`port` reaches `host`:`remote_port` from `via`."""

    id: str
    environment: str
    host: str
    remote_port: int
    port: int
    via: str
    closer: Callable[[], None] = field(repr=False, compare=False)
    health: Health = field(compare=False)
    audit_id: str | None = None  # its audit session's record (None: not audited)
    closed: bool = False

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def problem(self) -> str | None:
        """Why the latest connection could not be carried (None once one is)."""
        return self.health.problem

    def watch(self, notice: Callable[[str], None]) -> None:
        """Tell `notice` (one line each) of connections that fail and of reconnects."""
        if not callable(notice):
            raise ConfigError(f"watch() takes a callable (one line each: a str), not "
                              f"{type(notice).__name__}")
        self.health.watcher = lambda message: notice(f"forward {self.id}: {message}")

    def close(self) -> None:
        """Stop listening and cut the connections it carries: no traffic after this."""
        if not self.closed:
            self.closed = True
            self.closer()

    def as_row(self) -> tuple[str, str, str, str, str]:
        via = f"{self.via}; {self.problem}" if self.problem else self.via
        return (self.id, self.environment, f"127.0.0.1:{self.port}",
                address(self.host, self.remote_port), via)

    def __repr__(self) -> str:
        """What is true of it now, stamped while open (browser25: a cell showed every field,
        `closed=False` kept by the saved notebook after it was closed)."""
        state = "closed" if self.closed else f"open as of {time.strftime('%H:%M:%S')}"
        trouble = f"; {self.problem}" if self.problem and not self.closed else ""
        return (f"<Forward {self.id} 127.0.0.1:{self.port} → {address(self.host, self.remote_port)}"
                f" from {self.via}: {state}{trouble}>")

    def __str__(self) -> str:
        trouble = f"; {self.problem}" if self.problem else ""
        audit = f" · audit {self.audit_id}" if self.audit_id else ""  # a runbook names it
        return (f"forward {self.id}: 127.0.0.1:{self.port} → {address(self.host, self.remote_port)} "
                f"as seen from {self.via} ({self.environment}){audit}{trouble}")


@keywords_checked
class Forwards:
    """The open forwards of one Orchestrator, by id (`f1`, `f2`, …)."""

    def __init__(self) -> None:
        self._open: dict[str, Forward] = {}
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    def new_id(self) -> str:
        return f"f{next(self._ids)}"

    def add(self, forward: Forward) -> Forward:
        with self._lock:
            self._open[forward.id] = forward
        return forward

    def discard(self, forward_id: str) -> None:
        """Forget a forward that was closed (`Forward.close`)."""
        with self._lock:
            self._open.pop(forward_id, None)

    def list(self) -> list[Forward]:
        with self._lock:
            return list(self._open.values())

    def stop(self, forward_id: str | Forward) -> Forward:
        """Close forward `forward_id` (or the Forward itself; did-you-mean when there is no
        such forward)."""
        if isinstance(forward_id, Forward):  # closed itself: its id may be another
            forward_id.close()  # orchestrator's too (each numbers from f1: review26)
            return forward_id
        if not isinstance(forward_id, str):  # files13: None said "no attribute 'lower'"
            raise ForwardError(f"a forward is stopped by its id (str, such as 'f1') or the "
                               f"Forward itself, not {type(forward_id).__name__}")
        with self._lock:
            forward = self._open.pop(forward_id, None)
            known = list(self._open)
        if forward is None:
            guess = did_you_mean(forward_id, known)
            hint = f" (did you mean {guess!r}?)" if guess else ""
            listing = ", ".join(known) or "none"
            raise ForwardError(f"no forward {forward_id!r}{hint}; open forwards: {listing}")
        forward.close()
        return forward

    def close_all(self) -> None:
        with self._lock:
            forwards, self._open = list(self._open.values()), {}
        for forward in forwards:
            with contextlib.suppress(Exception):
                forward.close()


#: How long an interrupted open may take to give up (its connect is cancelled at once).
OPEN_STOPPED_WITHIN = 10.0


def _close(loop: BackgroundLoop, relay: Relay) -> None:
    """Stop listening and close the relay's connections (10 s at most). From the loop's own
    thread (a `watch` callback) it is done once the callback returns: waiting there stalled
    the loop, every run and forward on it, for the 10 s."""
    async def close() -> None:
        relay.close()
        await relay.wait_closed()

    if loop.loop.is_running():
        closing = loop.submit(close())
        if not on_loop_thread():
            with contextlib.suppress(Exception):
                closing.result(timeout=10)


def _used(layers: tuple[LayerSpec, ...]) -> int:
    """How many of `layers` a forward goes through: up to its last hop that carries TCP
    (the ssh host it listens from) or names targets (a container by label: a fleet's
    target is chosen by it); what follows (sudo, a container) is never launched, and its
    secrets are not asked (kinds19: a sudo password was). The plan made so is the gate's
    own (vouched): its layers are not the environment's whole list."""
    return max((i + 1 for i, spec in enumerate(layers)
                if "tcp" in (getattr(get_kind(spec.type), "carries", None) or ())
                or spec.fanout is not None), default=0)


def open_forward(places: Places, loop: BackgroundLoop, forwards: Forwards, environment: str,
                 port: int, *, local: int = 0, host: str = "localhost",
                 yes: str | Collection[str] = (), front_end: str = "api",
                 limit: str | None = None, admitted: Callable[[], object] = lambda: None
                 ) -> Forward:
    """Admit (in the caller's thread), then listen on the background loop; see the module.
    On a fleet, `limit` names the one target to reach. `admitted()` is called once the
    forward may open, before it listens (a cell run again closes its old one then)."""
    check_port(port, "the remote port")
    check_port(local, "--local", zero=True)
    host, limit = check_host(host), read_limit(limit)
    planned = functools.partial(places.plan, environment,
                                command=["orch-forward", address(host, port)])
    plan = planned(dry_run=True)  # admitted before any secret of its layers is asked
    check_allowed(plan)
    _check_target(plan, limit)  # allow lists refuse first, then a target, before anyone asks
    scope = planned_scope(plan.layers_to_run, limit) if plan.is_fleet else None  # as a copy's
    ticket = places.admit(plan, yes=yes, front_end=front_end, scope=scope)
    admitted()
    plan = places.gate.vouch(places.gate.resolved(plan, ticket, functools.partial(
        planned, used=_used(plan.layers_to_run))))  # a secret missing: still in the trail
    health = Health(address(host, port))

    async def start() -> tuple[Relay, str, str, Callable[[BaseException | None], object],
                               str | None]:
        one, label = plan, ""
        if plan.is_fleet:
            base = places.launcher_for(dataclasses.replace(plan, layers=()))
            resolved = await resolve_all(environment, plan.layers_to_run, base,  # log first
                                         recordable(places.gate, plan, ticket), limit)
            if limit is None and len(resolved.found) > 1:  # found by label: one can be named
                raise _name_one(plan, resolved.found)  # (a label of one container is that one)
            target = resolved.found[0] if limit is None else resolved.the_one(limit)
            one, label = places.gate.vouch(dataclasses.replace(plan, layers=target.layers)), \
                target.label  # a target of ours (a container found too)
        launcher = places.launcher_for(one)
        record, ended = places.gate.open_session(one, ticket, launcher.chain, label or None)
        try:
            relay, via = await listen(launcher, host, port, local, health)
        except BaseException as exc:
            ended(exc)
            raise
        return relay, via, label, ended, record

    opened = None
    try:
        opened = run_or_cancel(loop, start(), OPEN_STOPPED_WITHIN)
        return _listed(loop, forwards, opened, environment, host, port, health)
    except Interrupted as exc:  # nobody will hold what opened as the Ctrl-C came: close it
        if (late := exc.result()) is not None:
            _close(loop, late[0])
            late[3](exc.__cause__ or exc)  # its audit session ends as interrupted
        cause = exc.__cause__ or exc  # the interrupt itself: Ctrl-C (in one line), TERM, HUP
        raise (ForwardInterrupted() if type(cause) is KeyboardInterrupt else cause) from None
    except BaseException as exc:  # a Ctrl-C after it opened, before it was listed: the same
        if opened is not None and not any(f.port == opened[0].get_port()
                                          for f in forwards.list()):
            _close(loop, opened[0])
            opened[3](exc)
        raise


def _listed(loop: BackgroundLoop, forwards: Forwards, opened: tuple[Relay, str, str, Callable[
        [BaseException | None], object], str | None], environment: str, host: str, port: int,
            health: Health) -> Forward:
    """The forward that opened, listed in `forwards` (closed by its `close`)."""
    relay, via, label, ended, record = opened

    def closer() -> None:
        _close(loop, relay)
        forwards.discard(forward_id)
        ended(None)

    where = f"{environment} [{label}]" if label else environment
    forward_id = forwards.new_id()
    return forwards.add(Forward(forward_id, where, host, port, relay.get_port(), via, closer,
                                health, record))


def _check_target(plan: RunPlan, limit: str | None) -> None:
    """A forward reaches one target: a fleet's needs `limit` (checked against the targets
    known before run time; containers found by label are looked up once admitted, as for
    any run), a single target's must not have one."""
    plan.check_limit(limit)
    if not plan.is_fleet:
        return
    targets = expand(plan.layers_to_run)
    if any(t.pending is not None for t in targets):
        return
    if limit is None:
        raise _name_one(plan, targets)
    the_one(targets, limit)


def _name_one(plan: RunPlan, targets: Sequence[Target]) -> ConfigError:
    """A fleet's forward without `limit`: the error suggests its first target. (Errors name
    options as the CLI does, in every front end: docs/fleets.md pairs `--limit` and `limit=`.)"""
    return ConfigError(f"environment {plan.environment.name!r} fans out to several targets "
                       f"and a forward reaches one: name it with --limit (e.g. --limit "
                       f"{targets[0].label})")


async def listen(launcher: Launcher, host: str, port: int, local: int, health: Health
                 ) -> tuple[Relay, str]:
    """Listen on 127.0.0.1:`local` and reach host:port from the last place that carries
    connections (the last SSH hop; this machine for a chain without one)."""
    node: Launcher | None = launcher.place
    while node is not None and not isinstance(node, TunnelCarrier):
        node = node.parent
    if node is None:  # every chain starts on this machine, which carries connections
        raise ForwardError(f"{launcher.chain} has no hop that can carry a connection")
    tunnel = await node.tunnel()
    if tunnel is None:
        via, connect = "this machine", direct(host, port)
    elif isinstance(tunnel, Channels):
        via, connect = node.label, Through(node, node.label, host, port, health.tell)
    else:
        raise ForwardError(f"{node.label} cannot forward ports")
    health.via = via
    socks = _bound(local)  # first: a port in use must not cost the target's one connection
    try:  # (files17: a one-connection listener was used up by the check, then refused)
        first = await _probe(connect, host, port, via)
    except BaseException:
        for sock in socks:
            sock.close()
        raise
    silent = functools.partial(node.cut_if_silent, WATCH_ANSWER) if isinstance(
        node, Pooled) else None  # a silent hop's clients are cut, not left for minutes
    return Relay(connect, health, silent, Held(*first, again=connect)).serve(socks), via


async def _probe(connect: Connect, host: str, port: int, via: str) -> tuple[Reader, Writer]:
    """Connect once to host:port from `via`: a refusal is a clear error now; the connection
    is kept for the first client (Relay)."""
    try:
        return await connect()
    except OrchError:
        raise
    except (asyncio.TimeoutError, TimeoutError):
        raise ForwardError(f"{address(host, port)} did not answer from {via} within "
                           f"{CONNECT_TIMEOUT:g} s") from None
    except Exception as exc:
        raise ForwardError(f"{address(host, port)} is not reachable from {via}: "
                           f"{reason(exc)}") from None


def _bound(local: int) -> list[socket.socket]:
    """localhost:`local` (127.0.0.1, and ::1 where there is one), listening (not accepting
    yet), or why it cannot be had."""
    try:
        SOCKETS.open()  # now: a client that comes when no descriptor is left is told apart
    except OSError as exc:
        raise ForwardError(f"cannot tell who connects to a forward: netlink sock_diag: "
                           f"{os.strerror(exc.errno) if exc.errno else exc}") from None
    try:
        return bound(local)
    except OSError as exc:  # asyncio's strerror repeats the address: the reason alone
        why = exc.strerror if exc.strerror and "::1" in exc.strerror else (
            f"127.0.0.1:{local}: {os.strerror(exc.errno) if exc.errno else exc}")
        raise ForwardError(f"cannot listen on {why} (choose another local port, or 0 for "
                           f"any free one)") from None
