"""Docker exec hops over the Engine API: run commands inside a running container.

The engine is the one at the previous hop: `docker_host` (or, when the previous hop is this
machine, DOCKER_HOST), else `/var/run/docker.sock` there. Behind an SSH hop that hop forwards
the engine's unix socket (`UnixForwarder`): nothing but the socket is needed there. Commands
start through the shared wrapper of `remote.py`; the Engine API has no exec-kill (moby#35703),
so a signal is a second, short exec in the container (one for all the groups waiting to be
signalled there: `docker_signals.py`), and each run is listed with the container's warden
(`docker_warden.py`), stopping it if we die.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import signal as _signal
from collections.abc import Callable, Hashable
from typing import TYPE_CHECKING, Any

import docker
import docker.errors

from ..config.suggest import did_you_mean
from ..errors import AuthError, ConnectError, LayerError
from ..process.command import Command, at_home
from ..process.handle import ProcessHandle
from .after_loss import CLEANUP_TIMEOUT, GiveUp, TryAgain, kill_after_loss
from .base import SILENT_AFTER, GivenUp, Launcher, Pooled, UnixForwarder, connecting, go_ahead
from .docker_address import Address, Socket, parse_address
from .docker_engine import (
    Connector,
    Engine,
    holds,
    map_docker_errors,
    not_running,
    ping,
    still_reached,
    tcp_connector,
)
from .docker_exec import (
    ContainerPaused,
    DockerExec,
    abandon,
    not_text,
    paused_message,
    sized,
    start_failure,
    text_only,
    tty_create,
)
from .docker_pick import LIVE, Unpicked, name_of, pick, selector_hint
from .docker_warden import Warden, close_all, wardens_of
from .lifeline import SCRIPT as WATCHDOG
from .remote import new_nonce, preamble, wrapped_argv
from .remote_limits import too_long

if TYPE_CHECKING:  # the kind module imports this one inside wrap()
    from .docker import DockerConfig



class DockerLauncher(Launcher):
    """Runs commands with `docker exec` semantics in a container on the previous hop's engine."""

    tool = "docker"  # its command line tool, in advice (`docker exec …`)
    engine_name = "the docker engine"  # in messages (`lost the docker engine on …`)

    def __init__(self, config: DockerConfig, inner: Launcher, label: str,
                 socket: Socket) -> None:
        self.adopt(inner, label)
        self.config = config
        self._address = socket.url
        #: How the socket was chosen when the layer does not name it, for its errors.
        self.said_origin = f" ({socket.origin})" if socket.origin else ""

    def errors(self, what: str) -> contextlib.AbstractContextManager[None]:
        """Library errors met while doing `what` → our errors naming this hop."""
        return map_docker_errors(what, hop=self.depth, layer=self.label, where=self.where,
                                 engine=self.engine_name)

    # ---- the engine, pooled per way and address -------------------------------------------
    @property
    def _engine_key(self) -> Hashable:
        assert self.inner is not None
        return ("docker", self.inner.key, self._address)

    async def engine(self, *, lost: Engine | None = None) -> Engine:
        """The pooled engine client (`lost`: one whose connection died, dropped if it is the
        pooled one, not a newer one). A pooled one behind a hop that keeps its connection is
        used once that hop answers (a silent one is set aside: reached again anew)."""
        pools, key = self.context.pools, self._engine_key
        assert self.inner is not None
        place, pooled = self.inner.place, pools.get(key)
        if holds(pooled, lost) or (isinstance(pooled, asyncio.Future) and isinstance(
                place, Pooled) and not await still_reached(place, pooled)):
            self._retire_wardens(pools.pop(key, None))
        task = pools.get(key)
        if task is None:
            task = pools[key] = self._connecting(key)
        return await self.shared(task)  # type: ignore[no-any-return]

    def _connecting(self, key: Hashable) -> asyncio.Task[Engine]:
        """A pooled connect task: its failure is taken out of the pool (the next launch tries
        again) and retrieved even when nobody awaits it any more (a reconnect given up after
        CLEANUP_TIMEOUT), and it is cancelled, not left running, when the pools close."""
        pools = self.context.pools
        task = self.context.shared(self._connect())

        def settled(done: asyncio.Task[Engine]) -> None:
            if (done.cancelled() or done.exception() is not None) and pools.get(key) is done:
                pools.pop(key, None)

        async def close() -> None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

        task.add_done_callback(settled)
        self.context.on_close(close)
        return task

    def unreachable(self, exc: ConnectError | AuthError) -> LayerError:
        """The error of an engine that cannot be reached, saying how its socket was chosen."""
        return self.error(f"{exc.reason}{self.said_origin}", type(exc)) if self.said_origin else exc

    async def _connect(self) -> Engine:
        try:
            return await self._connect_engine()
        except (ConnectError, AuthError) as exc:
            if exc.hop is not None and exc.hop != self.depth:
                raise  # a hop before this one failed (its ssh forward): in its own words
            raise self.unreachable(exc) from None

    async def engine_address(self) -> str:
        """Where the engine listens: the layer's socket or its default (podman's: rootless)."""
        return self._address

    async def _connect_engine(self) -> Engine:
        try:
            address = parse_address(await self.engine_address())
        except ValueError as exc:
            raise self.error(str(exc)) from None
        assert self.inner is not None
        place = self.inner.place
        if address.path is not None:
            if not isinstance(place, UnixForwarder):
                raise self.error(f"cannot reach the engine's socket through {self.where}: it "
                                 f"cannot forward a unix socket")
            path = await place.forward_unix(address.path)
            local = Address(f"unix://{path}", path=path)
            connect: Connector = functools.partial(place.connect_unix, address.path)
        elif place.depth == 0:
            assert address.host is not None and address.port is not None
            local, connect = address, tcp_connector(address.host, address.port)
        else:
            raise self.error(f"{address.url}: a tcp:// engine is reachable only from this "
                             f"machine; behind {self.where} use its unix socket")
        version = await ping(local, address, self.where, hop=self.depth, layer=self.label,
                             connect=connect)
        api = docker.APIClient(base_url=local.url, version=version, timeout=60)
        engine = Engine(api, address, local, self.where, version, connect)

        async def close() -> None:
            await close_all(wardens_of(self.context.pools, engine))
            engine.close()

        self.context.on_close(close, engine.cut)
        return engine

    def _retire_wardens(self, dropped: object) -> None:
        """A pooled engine was dropped: its wardens end once their runs have."""
        if (isinstance(dropped, asyncio.Future) and dropped.done() and not dropped.cancelled()
                and dropped.exception() is None):
            for warden in wardens_of(self.context.pools, dropped.result()):
                warden.retire()

    # ---- which container ------------------------------------------------------------------
    async def _container(self, engine: Engine) -> tuple[str, str]:
        """(id, name) of the running container this layer targets (a paused one is an error
        naming it: it is there, as `docker ps` shows, but runs nothing)."""
        if self.config.container:
            return await self._named(engine, self.config.container)
        found, what = await self._labelled(engine)
        try:
            chosen = pick(found, what, self.where, compose=bool(self.config.service),
                          project=self.config.project)
        except Unpicked as exc:  # none found: a misspelt label, service or project?
            hint = "" if found else await selector_hint(engine, self.config)
            raise self.error(f"{exc}{hint}") from None
        return str(chosen["Id"]), name_of(chosen)

    async def _labelled(self, engine: Engine) -> tuple[list[dict[str, Any]], str]:
        """Every container (any state) the layer's label or compose service selects."""
        labels, what = self.config.selector()
        if not labels:
            raise self.error("the docker layer needs one of: container, label, service")
        with self.errors(f"listing containers with {what}"):  # all: podman's list leaves out
            found = await engine.call(engine.api.containers, all=True,  # paused ones otherwise
                                      filters={"label": labels})
        return found, what

    async def matching(self) -> list[str]:
        """Names of the running containers the selector matches, sorted: a fleet's targets.
        Paused ones are among them (as in `docker ps`): each such row fails saying so, rather
        than the fleet being one target short without a word. Stopped ones are not."""
        found, _ = await self._labelled(await self.engine())
        return sorted(name_of(c) for c in found if c.get("State") in LIVE)

    async def near(self) -> str:
        """` (did you mean …?)` when the selector matches no running container on this engine."""
        return await selector_hint(await self.engine(), self.config)

    async def _named(self, engine: Engine, container: str) -> tuple[str, str]:
        with self.errors(f"inspecting container {container!r}"):
            try:
                info = await engine.call(engine.api.inspect_container, container)
            except docker.errors.NotFound:
                raise await self._not_found(engine, container) from None
        name = str(info.get("Name", container)).lstrip("/")
        state = info.get("State") or {}
        if not state.get("Running"):
            raise self.error(f"container {name!r} is not running (status: "
                             f"{state.get('Status', 'unknown')})")
        if state.get("Paused"):
            raise self.error(f"container {name!r} is paused")
        return str(info["Id"]), name

    async def _not_found(self, engine: Engine, container: str) -> LayerError:
        """Not found: the error names the closest container, running or not (a typo of a
        stopped one is best told as that one, which then says it is not running)."""
        try:
            found = await engine.call(engine.api.containers, all=True)
            names = [name_of(c) for c in found if c.get("State") == "running"]
            hint = did_you_mean(container, [name_of(c) for c in found])
        except Exception:  # only for the hint: the error below stands on its own
            names, hint = [], None
        said = (f" (did you mean {hint!r}?)" if hint else
                f"; running containers: {', '.join(sorted(names)[:8])}" if names else "")
        return self.error(f"container {container!r} not found on the engine on {self.where}{said}")

    # ---- launching ------------------------------------------------------------------------
    async def launch(self, command: Command) -> ProcessHandle:
        with connecting():  # the engine and the container found: nothing started yet
            engine = await self.engine()
            container = await self._container(engine)
        warden = self._warden(engine, container)  # the first one starts along with the run
        tty = command.tty or self.config.tty
        if tty:  # nothing holds a TTY's command back (no preamble): its warden runs first
            await warden.ready()
        handle = await self._exec(engine, container, command, tty, warden=warden)
        if (pid := handle.pid) is not None:
            handle.when_done(functools.partial(warden.ended, pid))
        return handle

    def _warden(self, engine: Engine, container: tuple[str, str]) -> Warden:
        """The container's warden for this layer's user (docker_warden.py), started if none
        runs there. One per engine client: the warden's connection goes the runs' way (a
        client reconnected over a new ssh connection gets its own)."""
        pools, key = self.context.pools, ("warden", engine, container[0], self.config.user)
        warden = pools.get(key)
        if not isinstance(warden, Warden):
            guard = Command(("/bin/sh", "-c", WATCHDOG), cwd="/")  # none of the layer's
            warden = pools[key] = Warden(lambda: self._exec(engine, container, guard, False,
                                                            own=False))
        warden.ensure()
        return warden  # closed with its engine (`_connect_engine`)

    async def _exec(self, engine: Engine, where: tuple[str, str], command: Command,
                    tty: bool, *, own: bool = True, warden: Warden | None = None) -> ProcessHandle:
        """Start `command` in container `where` (id, name) through the wrapper (`own`: with the
        layer's variables and workdir); listed with `warden` before its preamble goes (layers7)."""
        cfg, (container, name) = self.config, where
        env = {**cfg.environment, **command.env} if own else dict(command.env)
        cwd = command.with_cwd(cfg.workdir if own else None, override=False).cwd
        # Variables and directory on stdin as over ssh (an exec's Env is kept by the engine, its
        # workdir entered as root). Not under a TTY: it echoes unless `stty` (may lack) stops it.
        text_only([*command.argv, cwd or "", *(f"{k}={v}" for k, v in env.items() if tty)],
                  self.error, tty, env if tty else {})
        full = dataclasses.replace(command, env=env, cwd=None if tty else cwd)
        on_stdin = not tty and not_text(command.argv)  # its arguments go in `pre` then
        argv = () if on_stdin else sized(command.argv, command.size if tty else None)
        if (why := too_long(full)) is not None:  # as over ssh: refused before it is sent
            raise self.error(f"the command is too long for container {name!r} ({why}): pass "
                             f"large data on stdin or in a file")
        pre = b"" if tty else preamble(full, argv=on_stdin, always=True)
        if cwd and not cwd.startswith("/") and (tty or not at_home(cwd)):  # `~`: the preamble's
            raise self.error(f"working directory {cwd!r} is not absolute: a command in a "
                             f"container starts from no directory it could be relative to")
        nonce = new_nonce()
        with self.errors(f"creating an exec in {name!r}"):
            try:
                created = await engine.call(
                    engine.api.exec_create, container,
                    wrapped_argv(argv, len(pre), shell="/bin/sh", nonce=nonce),
                    stdin=True, tty=tty, user=cfg.user or "", **tty_create(tty, cwd, env))
            except docker.errors.APIError as exc:
                if not not_running(exc):  # it stopped since the inspect
                    raise
                raise self.error(f"container {name!r} is not running") from None
        watched: int | None = None  # its group, once listed with `warden`
        go_ahead()  # starting the exec starts the command under a TTY
        opening = asyncio.ensure_future(engine.open_exec(
            created["Id"], tty=tty, describe=f"container {name!r}", nonce=nonce))
        try:
            try:
                stream = await asyncio.shield(opening)
            except OSError as exc:
                raise self.error(f"lost {self.engine_name} on {self.where}: {exc}") from None
            await asyncio.shield(stream.started)  # not cancelled with us: `abandon` awaits it
            if stream.pid is None:
                failed = await start_failure(self, stream, name, cwd, cfg.user, tty)
                if isinstance(failed, LayerError):
                    raise failed
                return ProcessHandle(failed, command, chain=self.chain)
            if warden is not None:
                await warden.watch(watched := stream.pid)
            if pre:
                go_ahead()
                with contextlib.suppress(BrokenPipeError):  # it ended at once: its end says why
                    await stream.write(pre)
        except (asyncio.CancelledError, GivenUp):  # given up (a stop, a timeout): not left running
            await asyncio.shield(abandon(self, engine, where, opening))
            if warden is not None and watched is not None:
                warden.forget(watched)  # ended: its number may be reused
            raise
        backend = DockerExec(self, engine, stream, created["Id"], (container, name), tty)
        return ProcessHandle(backend, command, chain=self.chain)

    async def signal_group(self, engine: Engine, container: tuple[str, str], pgid: int,
                           sig: int) -> bool:
        """Deliver `sig` to process group `pgid` inside the container (a short second exec);
        False when the container is not running (stopped or removed: it took the group with
        it). A paused one did not: the engine runs no exec in it and unpausing it is not ours
        to do, so that is a `ContainerPaused`."""
        with self.errors("sending a signal"):
            try:  # with the others waiting for this container (chains31: one exec each)
                await engine.signals.send(container[0], self.config.user or "", pgid, sig)
            except docker.errors.APIError as exc:
                if not not_running(exc):
                    raise
                if await self._paused(engine, container[0]):
                    raise self.error(paused_message(self.tool, container[1], pgid),
                                     ContainerPaused) from None
                return False
        return True

    async def _paused(self, engine: Engine, container: str) -> bool:
        """Whether the container is there and paused (not stopped, removed or restarting)."""
        try:
            return bool(((await engine.call(engine.api.inspect_container, container))
                         .get("State") or {}).get("Paused"))
        except Exception:  # gone, or the engine with it: nothing of it runs
            return False

    async def cut_if_silent(self) -> str | None:
        """Why the hop carrying this engine's connection is cut, if it went silent."""
        place = self.inner.place if self.inner is not None else None
        return await place.cut_if_silent(SILENT_AFTER) if isinstance(place, Pooled) else None

    def carrier_lost(self) -> Callable[[str], LayerError] | None:
        """The error of the hop whose dropped connection carried the engine, if one did."""
        place = self.inner.place if self.inner is not None else None
        return place.dropped_by() if isinstance(place, Pooled) else None

    async def kill_after_loss(self, container: tuple[str, str], pgid: int,
                              lost: Engine) -> str | None:
        """The connection of engine client `lost`, carrying process group `pgid`, died:
        reconnect and kill it; say what happened (or what is left, and where, when the engine
        cannot be reached). None when the container is not running: nothing of it is left."""
        place = f"process group {pgid} in container {container[1]!r} on {self.where}"

        async def kill_once() -> str | None:
            nonlocal lost
            try:
                lost = await asyncio.wait_for(self.engine(lost=lost), CLEANUP_TIMEOUT)
                if not await self.signal_group(lost, container, pgid, _signal.SIGKILL):
                    return None
                return f"reconnected and killed {place}"
            except ContainerPaused as exc:
                return f"reconnected, but {exc.reason}"
            except LayerError as exc:  # the hop carrying the engine may not know yet
                raise TryAgain(f"reconnecting failed: {exc.said_at(self.depth)}") from None
            except asyncio.TimeoutError:  # the time for it is spent: no second try
                raise GiveUp(f"reconnecting failed: timed out connecting to {self.engine_name}"
                             f" on {self.where} after {CLEANUP_TIMEOUT:g} s") from None

        return await kill_after_loss(place, kill_once)
