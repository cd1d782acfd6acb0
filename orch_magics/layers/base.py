"""The layer contract: a Launcher starts processes somewhere; a layer kind wraps one in another.

A launcher is "a place that can start processes": this machine, an SSH host reached through the
previous launcher, a container on that host's engine. A layer kind is plain data (its frozen
`Config`) plus `wrap(config, inner, label)` returning the launcher one hop further in. Adding a
kind never touches the executor: it is a module and one entry point (see `registry.py`).

What a place can do for the hop after it is a capability, a Protocol checked with isinstance:
`TunnelCarrier` (an SSH host can carry a connection to another host) and `UnixForwarder` (it
can forward a unix socket, which a docker engine behind it needs).

A new kind: one module with a frozen `Config` dataclass and `KIND` (name, Config, label, wrap;
`wrap` imports the runtime, so configs load without the SDK), and one entry point in the
`orch_magics.layers` group. Its Launcher calls `adopt(inner, label)`, finds what it needs on
`inner.place`, and returns `ProcessHandle(backend, command, chain=self.chain)`. A remote kind
starts commands through `remote.py` (wrapper, pid marker, preamble, kill line, statuses), maps
its library's errors in one context manager, and adds a chain to tests/test_layer_conformance.py.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import contextvars
from collections.abc import Awaitable, Callable, Coroutine, Hashable, Iterator
from typing import Any, ClassVar, Protocol, TypeVar, runtime_checkable

from ..errors import LayerError
from ..process.command import Command
from ..process.handle import ProcessHandle

T = TypeVar("T")


class LaunchPhase:
    """How far a launch has got, for whoever may give it up (engine.steering): it can be
    dropped at once, leaving nothing behind, while it only waits on a connection and creates
    no local process (cancelling asyncio's subprocess creation half-way can hang for ever)."""

    def __init__(self) -> None:
        self.connecting = 0  # nested: a hop connects through the hop before it
        self.creating = 0
        #: Given up on (a stop, the deadline): `go_ahead` lets nothing start the command now.
        self.given_up = False

    @property
    def only_connecting(self) -> bool:
        return self.connecting > 0 and self.creating == 0


#: The phase of the launch this task runs (set by whoever launches; None: nobody asks).
LAUNCH_PHASE: contextvars.ContextVar[LaunchPhase | None] = contextvars.ContextVar(
    "orch_launch_phase", default=None)


@contextlib.contextmanager
def connecting() -> Iterator[None]:
    """Mark the launch in progress as waiting on a connection for the duration: given up
    meanwhile (a host that never answers), it is cancelled at once (fleets9)."""
    with _counted("connecting"):
        yield


@contextlib.contextmanager
def creating() -> Iterator[None]:
    """Mark the launch in progress as creating a local process for the duration (a child, a
    ProxyCommand), also inside `connecting`: given up meanwhile, it gets a moment to finish."""
    with _counted("creating"):
        yield


class GivenUp(LayerError):
    """The launch was given up (a stop, the deadline) before its command started."""


def go_ahead() -> None:
    """Raise `GivenUp` if the launch in progress was given up. A kind calls it at its point of
    no return (just before the command, or the process that will run it, starts: a remote
    kind's preamble), so a stop or deadline that came while it connected never lets the
    command act after its time (chains19: a `touch` ran after `--timeout` had passed)."""
    phase = LAUNCH_PHASE.get()
    if phase is not None and phase.given_up:
        raise GivenUp("the launch was given up before the command started")


@contextlib.contextmanager
def ungated() -> Iterator[None]:
    """Launches that clean up after a launch (a kill as sudo's target user) go ahead even when
    the launch they clean up after was given up."""
    token = LAUNCH_PHASE.set(None)
    try:
        yield
    finally:
        LAUNCH_PHASE.reset(token)


@contextlib.contextmanager
def _counted(name: str) -> Iterator[None]:
    phase = LAUNCH_PHASE.get()
    if phase is None:
        yield
        return
    setattr(phase, name, getattr(phase, name) + 1)
    try:
        yield
    finally:
        setattr(phase, name, getattr(phase, name) - 1)


class LaunchContext:
    """Resources shared by the launchers of one Orchestrator on one event loop.

    Layers keep pooled connections in `pools` under keys of their choosing (for SSH: the chain
    prefix, `Launcher.key`) and register how to close them with `on_close`; `aclose()` stops
    the runs still going on it (`stops_first`), then closes them all.
    """

    def __init__(self) -> None:
        self.pools: dict[Hashable, Any] = {}
        #: How to close each resource, and how to cut it without its loop (None: it cannot be).
        self._closing: list[tuple[Callable[[], Awaitable[None]], Callable[[], None] | None]] = []
        self._stops: set[Callable[[], Awaitable[object]]] = set()

    def shared(self, coro: Coroutine[Any, Any, T]) -> asyncio.Task[T]:
        """A task for what launches share (a pooled connection): made outside the launch that
        happens to start it, so that one's being given up stops none of it (review28)."""
        with ungated():
            return asyncio.get_running_loop().create_task(coro)

    def stops_first(self, stop: Callable[[], Awaitable[object]],
                    on_end: Callable[[Callable[[Any], None]], object]) -> None:
        """Register how to stop a run going on this context, until it ends (`on_end(callback)`
        calls back then): `aclose` stops it before it closes the connections under it, so an
        Orchestrator's close() stops the runs awaited on any loop."""
        self._stops.add(stop)
        on_end(lambda _: self._stops.discard(stop))

    def on_close(self, closer: Callable[[], Awaitable[None]],
                 cut: Callable[[], None] | None = None) -> None:
        """`closer` closes a resource on this context's loop; `cut`, if given, severs it at
        its sockets, for a loop that has ended with it open or a close that hung."""
        self._closing.append((closer, cut))

    async def aclose(self) -> None:
        """Stop the runs still going, then close the resources, last opened first; each is
        forgotten once closed, so a `cut` after this was cancelled severs the rest."""
        stops, self._stops = list(self._stops), set()
        await asyncio.gather(*(stop() for stop in stops), return_exceptions=True)
        while self._closing:
            pair = self._closing[-1]
            try:
                await pair[0]()
            except Exception:  # half closed, maybe: severed as well
                if pair[1] is not None:
                    with contextlib.suppress(Exception):
                        pair[1]()
            with contextlib.suppress(ValueError):  # a cut meanwhile
                self._closing.remove(pair)
        self.pools.clear()

    def cut(self) -> None:
        """Sever, without the loop, what is still open (its loop ended, or its close hung),
        so no connection stays open for the process's life."""
        closing, self._closing = self._closing[::-1], []
        for _, cut in closing:
            if cut is not None:
                with contextlib.suppress(Exception):
                    cut()
        self.pools.clear()


class Launcher(abc.ABC):
    """A place that can start processes. `depth` 0 is this machine; each hop adds one.

    `inner` is the launcher this one was wrapped around (None for this machine); `parent` is the
    previous *hop* (a launcher that only adds variables is no hop of its own).
    """

    label: str = "local"
    depth: int = 0
    context: LaunchContext
    parent: Launcher | None = None
    inner: Launcher | None = None

    @abc.abstractmethod
    async def launch(self, command: Command) -> ProcessHandle:
        """Start `command` here and return its live handle."""

    @property
    def place(self) -> Launcher:
        """The launcher that really is the place (wrappers that only edit commands see through)."""
        return self

    @property
    def key(self) -> Hashable:
        """What identifies the way from this machine to this place (pools are keyed by it)."""
        return (type(self).__name__, self.chain)

    @property
    def chain(self) -> str:
        """`local → ssh bastion → docker app`: the hops from this machine to here."""
        parts: list[str] = []
        node: Launcher | None = self
        while node is not None:
            parts.append(node.label)
            node = node.parent
        return " → ".join(reversed(parts))

    @property
    def where(self) -> str:
        """The previous hop in words ("this machine", or its label): where this hop starts."""
        if self.parent is None or self.parent.depth == 0:
            return "this machine"
        return self.parent.label

    def error(self, message: str, cls: type[LayerError] = LayerError) -> LayerError:
        """An error of class `cls` naming this hop (`hop 2 (docker app): …`)."""
        return cls(message, hop=self.depth, layer=self.label)

    async def shared(self, task: asyncio.Future[T]) -> T:
        """A pooled task other launches of this hop await too (an engine's connect), its
        failure said in this launch's own name: each target's row named the first
        container's hop (fleets10)."""
        try:
            return await asyncio.shield(task)
        except LayerError as exc:
            if exc.hop == self.depth and exc.layer != self.label:
                raise self.error(exc.reason, type(exc)) from None
            raise

    def adopt(self, inner: Launcher, label: str) -> None:
        """Become the hop one further in than `inner` (depth, context, parent, inner)."""
        self.label = label
        self.depth = inner.place.depth + 1
        self.context = inner.context
        self.parent = inner.place
        self.inner = inner


class SeeThrough(Launcher):
    """A launcher that only edits commands or errors on their way to `inner`: it is the same
    hop (label, depth, place, pool key), so a chain reads as if it were not there."""

    def __init__(self, inner: Launcher) -> None:
        self.inner = inner
        self.label, self.depth = inner.label, inner.depth
        self.context, self.parent = inner.context, inner.parent

    @property
    def place(self) -> Launcher:
        assert self.inner is not None
        return self.inner.place

    @property
    def key(self) -> Hashable:
        return self.place.key


@runtime_checkable
class TunnelCarrier(Protocol):
    """A place that can carry a TCP connection to another host (asyncssh's `tunnel=`)."""

    async def tunnel(self) -> object | None:
        """The tunnel object, or None for "connect directly from this machine"."""


@runtime_checkable
class UnixForwarder(Protocol):
    """A place whose unix sockets can be reached from this machine."""

    async def forward_unix(self, path: str) -> str:
        """A local unix socket path whose connections reach `path` at this place."""

    async def connect_unix(self, path: str, protocol: asyncio.BaseProtocol) -> None:
        """Connect `protocol` to `path` at this place, with nothing in between on this machine
        (for bulk streams; OSError when it cannot be reached)."""


#: Seconds a pooled place's keepalive reply may take once a stop's signal went undelivered
#: for `process.handle.SIGNAL_CHECK` s: a connection without one is silent, and cut.
SILENT_AFTER = 3.0


@runtime_checkable
class Pooled(Protocol):
    """A place reached over a connection kept between runs (an ssh hop)."""

    async def answers(self) -> bool:
        """Whether that connection is still there and answers now (one round trip); a
        silent one is set aside, so the next use connects afresh."""

    async def cut_if_silent(self, within: float) -> str | None:
        """Whether a connection to this place went silent (no keepalive reply within `within`
        s): why, in words; such connections are closed now, so what rides on them ends."""

    def dropped_by(self) -> Callable[[str], LayerError] | None:
        """While every connection to this place is down: the error a loss is said with, by the
        hop that lost it (a bastion's drop is the bastion's); None while one is up."""


#: What a place can offer the layer after it: a TCP connection to another host, a unix
#: socket reached from this machine, and being this machine itself.
CARRIES = frozenset({"tcp", "unix", "here"})


class LayerKind(Protocol):
    """One kind of layer (`local`, `ssh`, `docker`): its config class and how it wraps.

    The module that defines a kind must import without the kind's SDK: import the runtime
    inside `wrap`, so loading a config never pulls in asyncssh, docker or requests.

    Optionally, so that `orch check` refuses a chain that could never run (config/chain.py):
    `carries` (a ClassVar) — what the place a layer reaches offers the next one: a subset of
    CARRIES, or None for "what the place before it offers"; `needs(config)` — the one
    capability of CARRIES a layer needs from the place before it, or None.
    `target` (a ClassVar): the config key that the short form `KIND NAME` of a layer sets
    (`ssh bastion` sets `host`); without it the kind is written alone or as a mapping.
    `fans_out` (a ClassVar, True): `target` may name several targets (a list, a range
    pattern, `group:NAME`), and the environment fans out (docs/fleets.md); `selector` (a
    ClassVar): a config key whose value selects targets at run time (docker's `label`), for a
    kind whose launcher is `Selecting`: each name it finds is a target, set as `target`.
    And `preflight(config, label)`, so that `orch check` says what on this machine would stop a
    first hop (an engine's socket missing) without connecting: raises the OrchError its run
    would (hop 1), or returns.
    """

    name: ClassVar[str]
    Config: ClassVar[type]

    def label(self, config: Any) -> str:
        """A short name for the hop, used in status lines and errors (`ssh bastion`)."""

    def wrap(self, config: Any, inner: Launcher, label: str) -> Launcher:
        """The launcher that runs processes one hop beyond `inner`."""
