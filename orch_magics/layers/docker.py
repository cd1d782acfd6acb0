"""Docker exec hops over the Engine API: run commands inside a running container.

The engine is the one at the previous hop: `docker_host` (or, when the previous hop is this
machine, DOCKER_HOST), else `/var/run/docker.sock` there. Behind an SSH hop the engine's unix
socket is forwarded over that hop's connection (`inner.forward_unix`), so nothing but the
socket is needed on the remote host.

Every command starts through a one-line POSIX shell wrapper that prints its pid on stderr and
then `exec`s the argv. A docker exec is a session leader (runc calls setsid), so that pid is
also the process group of the command and all its children: the Engine API has no exec-kill
(moby#35703), so a signal is a second, short exec running `kill -SIG -PGID` in the container.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, ClassVar

import docker.errors

from ..config.suggest import did_you_mean
from ..errors import LayerError, StreamError
from ..process.command import Command
from ..process.events import Exit
from ..process.handle import ProcessHandle
from .base import Launcher
from .docker_engine import (
    Address,
    Engine,
    check_address,
    default_address,
    parse_address,
    ping,
    translate,
)
from .docker_stream import ExecStream

#: Runs the argv after reporting the shell's pid (= process group) as the first stderr line.
WRAPPER = 'echo "orch-pid:$$" >&2; exec "$@"'
#: Seconds a signal exec may take.
SIGNAL_TIMEOUT = 10.0


@dataclass(frozen=True)
class DockerConfig:
    """A running container to exec into, on the engine of the previous hop."""

    container: str | None = field(default=None, metadata={"doc": "Container name or id."})
    label: str | None = field(
        default=None, metadata={"doc": "Pick the running container with this label (key or key=value)."})
    service: str | None = field(default=None, metadata={"doc": "Compose service name."})
    project: str | None = field(
        default=None, metadata={"doc": "Compose project name (narrows `service`)."})
    user: str | None = field(
        default=None, metadata={"doc": "User inside the container (name, uid, or user:group)."})
    workdir: str | None = field(
        default=None, metadata={"doc": "Working directory inside (a service's working_dir wins)."})
    environment: Mapping[str, str] = field(
        default_factory=lambda: MappingProxyType({}),
        metadata={"doc": "Variables for every exec (a service's values win)."})
    tty: bool = field(default=False, metadata={"doc": "Allocate a TTY for every exec."})
    docker_host: str | None = field(
        default=None,
        metadata={"doc": "Engine address at the previous hop: unix:///path or tcp://host:port "
                         "(default: DOCKER_HOST on this machine, else /var/run/docker.sock).",
                  "check": check_address})

    def check(self) -> None:
        """One target (the loader calls this): a container, a label or a compose service."""
        given = [k for k in ("container", "label", "service") if getattr(self, k)]
        if len(given) != 1:
            raise ValueError("give one of container, label, service"
                             + (f", not {' and '.join(given)}" if given else ""))
        if self.project and not self.service:
            raise ValueError("project narrows a compose service: give service too")


class DockerLauncher(Launcher):
    """Runs commands with `docker exec` semantics in a container on the previous hop's engine."""

    def __init__(self, config: DockerConfig, inner: Launcher, label: str) -> None:
        attrs = inner.child(label)
        self.label = attrs["label"]
        self.depth = attrs["depth"]
        self.context = attrs["context"]
        self.parent = attrs["parent"]
        self.config = config
        self._inner = inner
        self._address = config.docker_host or default_address(inner.depth)

    # ---- errors name the hop ----------------------------------------------------------------

    @property
    def _where(self) -> str:
        return "this machine" if self._inner.depth == 0 else self._inner.label

    def _error(self, message: str, cls: type[LayerError] = LayerError) -> LayerError:
        return cls(message, hop=self.depth, layer=self.label)

    def _translate(self, exc: BaseException, what: str) -> LayerError:
        return translate(exc, what, hop=self.depth, layer=self.label, where=self._where)

    # ---- the engine, pooled per chain and address -----------------------------------------

    async def _engine(self) -> Engine:
        key = ("docker", self._inner.chain, self._address)
        pools = self.context.pools
        task = pools.get(key)
        if task is None:
            task = pools[key] = asyncio.ensure_future(self._connect())
        try:
            return await asyncio.shield(task)  # type: ignore[no-any-return]
        except BaseException:
            if task.done() and pools.get(key) is task:
                pools.pop(key, None)  # let the next launch try again
            raise

    async def _connect(self) -> Engine:
        try:
            address = parse_address(self._address)
        except ValueError as exc:
            raise self._error(str(exc)) from None
        if address.path is not None:
            try:
                path = await self._inner.forward_unix(address.path)
            except NotImplementedError as exc:
                raise self._error(f"cannot reach a docker socket through {self._where}: {exc}") from None
            local = Address(f"unix://{path}", path=path)
        elif self._inner.depth == 0:
            local = address
        else:
            raise self._error(f"{address.url}: a tcp:// engine is reachable only from this "
                              f"machine; behind {self._where} use its unix socket")
        version = await ping(local, address, self._where, hop=self.depth, layer=self.label)
        api = docker.APIClient(base_url=local.url, version=version, timeout=60)
        engine = Engine(api, address, local, self._where, version)

        async def close() -> None:
            engine.close()

        self.context.on_close(close)
        return engine

    # ---- which container ------------------------------------------------------------------

    async def _container(self, engine: Engine) -> tuple[str, str]:
        """(id, name) of the running container this layer targets."""
        cfg = self.config
        if cfg.container:
            try:
                info = await engine.call(engine.api.inspect_container, cfg.container)
            except docker.errors.NotFound:
                names = await self._running_names(engine)
                hint = did_you_mean(cfg.container, names)
                msg = f"container {cfg.container!r} not found on the engine on {self._where}"
                if hint:
                    msg += f" (did you mean {hint!r}?)"
                elif names:
                    msg += f"; running containers: {', '.join(sorted(names)[:8])}"
                raise self._error(msg) from None
            except Exception as exc:
                raise self._translate(exc, f"inspecting container {cfg.container!r}") from None
            name = str(info.get("Name", cfg.container)).lstrip("/")
            state = info.get("State") or {}
            if not state.get("Running"):
                raise self._error(f"container {name!r} is not running (status: "
                                  f"{state.get('Status', 'unknown')})")
            if state.get("Paused"):
                raise self._error(f"container {name!r} is paused")
            return str(info["Id"]), name
        labels, what = self._selector()
        if not labels:
            raise self._error("the docker layer needs one of: container, label, service")
        try:
            found = await engine.call(engine.api.containers, filters={"label": labels})
            running = [c for c in found if c.get("State") == "running"]
        except Exception as exc:
            raise self._translate(exc, f"listing containers with {what}") from None
        if not running:
            if found:
                raise self._error(f"no running container with {what}: "
                                  f"{_name(found[0])!r} is {found[0].get('State')}")
            raise self._error(f"no container with {what} on the engine on {self._where}")
        if cfg.service:  # replicas: the first one, as `docker compose exec` does
            running.sort(key=lambda c: (int((c.get("Labels") or {}).get(
                "com.docker.compose.container-number", "0") or 0), _name(c)))
        elif len(running) > 1:
            matching = ", ".join(sorted(_name(c) for c in running))
            raise self._error(f"{what} matches {len(running)} running containers ({matching}); "
                              f"pick one with `container:`")
        return str(running[0]["Id"]), _name(running[0])

    def _selector(self) -> tuple[list[str], str]:
        cfg = self.config
        if cfg.service:
            labels = [f"com.docker.compose.service={cfg.service}"]
            what = f"compose service {cfg.service!r}"
            if cfg.project:
                labels.append(f"com.docker.compose.project={cfg.project}")
                what += f" of project {cfg.project!r}"
            return labels, what
        if cfg.label:
            return [cfg.label], f"label {cfg.label!r}"
        return [], ""

    async def _running_names(self, engine: Engine) -> list[str]:
        try:
            listed = await engine.call(engine.api.containers)
        except Exception:
            return []
        return [_name(c) for c in listed]

    # ---- launching ------------------------------------------------------------------------

    async def launch(self, command: Command) -> ProcessHandle:
        cfg = self.config
        engine = await self._engine()
        container, name = await self._container(engine)
        tty = command.tty or cfg.tty
        env = {**cfg.environment, **command.env}
        cwd = command.cwd or cfg.workdir
        argv = ["/bin/sh", "-c", WRAPPER, "orch", *command.argv]
        try:
            created = await engine.call(
                engine.api.exec_create, container, argv, stdin=True, tty=tty,
                user=cfg.user or "", workdir=cwd,
                environment=[f"{k}={v}" for k, v in env.items()] or None)
        except docker.errors.APIError as exc:
            if exc.status_code == 409:
                raise self._error(f"container {name!r} is not running") from None
            raise self._translate(exc, f"creating an exec in {name!r}") from None
        except Exception as exc:
            raise self._translate(exc, f"creating an exec in {name!r}") from None
        exec_id = created["Id"]
        try:
            stream = await engine.open_exec(exec_id, tty=tty, describe=f"container {name!r}")
        except OSError as exc:
            raise self._error(f"lost the docker engine on {self._where}: {exc}") from None
        await stream.started
        if stream.pid is None:
            raise await self._start_failure(stream, name, cwd)
        backend = DockerExec(self, engine, stream, exec_id, container, tty)
        return ProcessHandle(backend, command, chain=self.chain)

    async def _start_failure(self, stream: ExecStream, name: str, cwd: str | None) -> LayerError:
        """The wrapper never ran: say why in our words (the engine's text as the detail)."""
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(asyncio.shield(stream.closed), 2.0)
        stream.abort()
        if stream.refused is not None:
            return self._error(f"the engine refused to start the exec in {name!r}: "
                               f"{stream.refused.message}")
        if stream.error is not None:
            return stream.error
        text = stream.drain_text()
        low = text.lower()
        user = self.config.user
        if "unable to find user" in low or "no matching entries in passwd" in low:
            return self._error(f"user {user!r} does not exist in container {name!r}")
        if "chdir" in low or ("cwd" in low and "no such file" in low):
            return self._error(f"working directory {cwd!r} does not exist in container {name!r}")
        if "/bin/sh" in low:
            return self._error(f"container {name!r} has no /bin/sh: the docker layer starts "
                               f"commands through a POSIX shell (to deliver signals)")
        return self._error(f"the engine could not start the command in {name!r}: "
                           f"{text or 'no reason given'}")

    async def signal_group(self, engine: Engine, container: str, pgid: int, sig: int) -> None:
        """Deliver `sig` to process group `pgid` inside the container (a short second exec)."""
        script = f"kill -{int(sig)} -{int(pgid)} 2>/dev/null || kill -{int(sig)} {int(pgid)} 2>/dev/null"
        api = engine.api

        def run() -> None:
            created = api.exec_create(container, ["/bin/sh", "-c", script],
                                      user=self.config.user or "")
            api.exec_start(created["Id"])

        try:
            await asyncio.wait_for(engine.call(run), SIGNAL_TIMEOUT)
        except docker.errors.APIError as exc:
            if exc.status_code in (404, 409):  # the container is gone: so is the process
                return
            raise self._translate(exc, "sending a signal") from None
        except asyncio.TimeoutError:
            raise self._error("sending a signal: the engine did not answer in time") from None
        except Exception as exc:
            raise self._translate(exc, "sending a signal") from None


def _name(container: Mapping[str, Any]) -> str:
    names = container.get("Names") or [container.get("Id", "?")[:12]]
    return str(names[0]).lstrip("/")


class DockerExec:
    """ProcessBackend of one exec: the hijacked stream, exec inspect, signals by exec."""

    def __init__(self, launcher: DockerLauncher, engine: Engine, stream: ExecStream,
                 exec_id: str, container: str, tty: bool) -> None:
        self._launcher = launcher
        self._engine = engine
        self._stream = stream
        self._exec_id = exec_id
        self._container = container
        self._tty = tty
        self._signals: list[int] = []
        self._exit: Exit | None = None
        self.pid: int | None = stream.pid

    def stdout(self) -> AsyncIterator[bytes]:
        return self._stream.output(0)

    def stderr(self) -> AsyncIterator[bytes] | None:
        return None if self._tty else self._stream.output(1)

    async def write(self, data: bytes) -> None:
        await self._stream.write(data)

    async def write_eof(self) -> None:
        await self._stream.write_eof()

    async def wait(self) -> Exit:
        await asyncio.shield(self._stream.closed)
        if self._stream.error is not None:
            self._exit = Exit(error=self._stream.error)
            return self._exit
        api, delay = self._engine.api, 0.002
        while True:
            try:
                info = await self._engine.call(api.exec_inspect, self._exec_id)
            except Exception as exc:
                self._exit = Exit(error=StreamError(
                    f"the docker engine on {self._launcher._where} went away before reporting "
                    f"the exit status: {exc}",
                    hop=self._launcher.depth, layer=self._launcher.label))
                return self._exit
            if not info.get("Running") and info.get("ExitCode") is not None:
                break
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.25)
        code = int(info["ExitCode"])
        # The wrapper exec'd the command, so a signal death shows as 128+N, like in a shell.
        sig = next((s for s in reversed(self._signals) if code == 128 + s), None)
        self._exit = Exit(signal=sig) if sig is not None else Exit(code=code)
        return self._exit

    async def signal(self, sig: int) -> None:
        if self.pid is None or self._stream.closed.done() and self._exit is not None:
            return
        self._signals.append(sig)
        await self._launcher.signal_group(self._engine, self._container, self.pid, sig)

    async def close(self) -> None:
        self._stream.close()
        # Stopped, broken or abandoned: make sure nothing of the run's process group stays.
        if self.pid is not None and (self._signals or self._exit is None
                                     or self._exit.error is not None):
            with contextlib.suppress(Exception):
                await self._launcher.signal_group(self._engine, self._container, self.pid, 9)


class DockerKind:
    name: ClassVar[str] = "docker"
    Config: ClassVar[type] = DockerConfig

    def label(self, config: DockerConfig) -> str:
        target = config.container or config.service or config.label or "?"
        return f"docker {target}"

    def wrap(self, config: DockerConfig, inner: Launcher, label: str) -> Launcher:
        return DockerLauncher(config, inner, label)


KIND = DockerKind()
