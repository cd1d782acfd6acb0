"""One Docker engine as seen from this machine: its address, a docker-py client, error mapping.

docker-py is blocking, so every SDK call runs in a worker thread (`Engine.call`); the hijacked
exec stream is opened on the event loop itself (`Engine.open_exec`, see docker_stream.py).
Library exceptions stop here (`map_docker_errors`): callers see our errors naming the hop.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import os
import weakref
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import docker
import docker.errors
import requests.exceptions

from ..errors import AuthError, ConnectError, LayerError
from .base import Pooled
from .docker_address import NO_SOCKET, Address, is_socket, socket_problem
from .docker_signals import SignalBatches
from .docker_stream import ExecStream

#: Seconds to wait for the engine to answer the first ping.
CONNECT_TIMEOUT = 10.0

T = TypeVar("T")
#: The threads of `Engine.look`, shared by every engine.
_LOOKS = ThreadPoolExecutor(2, thread_name_prefix="orch-container-look")


#: Connects a protocol to the engine (directly over the previous hop's channel where it can).
Connector = Callable[[asyncio.BaseProtocol], Awaitable[None]]


class Engine:
    """A reachable engine: `path`/`host` are usable from this machine (maybe forwarded) for the
    SDK's calls; `connect` opens the exec streams."""

    def __init__(self, api: docker.APIClient, address: Address, local: Address,
                 where: str, version: str, connect: Connector) -> None:
        self.api = api
        self.address = address  # as configured, at the previous hop
        self.local = local  # how this machine reaches it
        self.where = where
        self.version = version
        self.connect = connect
        self.signals = SignalBatches(self._script)
        self._streams: weakref.WeakSet[ExecStream] = weakref.WeakSet()

    async def _script(self, container: str, user: str, script: str) -> None:
        """Run a shell `script` in `container` as `user` (a signal exec), to its end."""
        def run() -> None:
            created = self.api.exec_create(container, ["/bin/sh", "-c", script], user=user)
            self.api.exec_start(created["Id"])

        await self.call(run)

    async def call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run a blocking docker-py call in a worker thread."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(None, functools.partial(fn, *args, **kwargs))

    async def look(self, fn: Callable[..., T], *args: Any) -> T:
        """`call` for the watch on containers while execs run, on threads of its own: a hung
        engine (or a silent tunnel to it) holds these, never the workers that stops and every
        other call use (review22)."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(_LOOKS, functools.partial(fn, *args))

    async def open_exec(self, exec_id: str, *, tty: bool, describe: str,
                        nonce: str) -> ExecStream:
        """Start an exec and return its hijacked stream (headers not yet read; `nonce`: the
        one its wrapper prints its status line with)."""
        body = json.dumps({"Detach": False, "Tty": tty}).encode()
        request = (
            f"POST /v{self.version}/exec/{exec_id}/start HTTP/1.1\r\n"
            "Host: docker\r\nContent-Type: application/json\r\n"
            "Connection: Upgrade\r\nUpgrade: tcp\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        ).encode() + body
        proto = ExecStream(request, tty=tty, describe=describe, nonce=nonce)
        self._streams.add(proto)
        await self.connect(proto)
        return proto

    def close(self) -> None:
        self.api.close()

    def cut(self) -> None:
        """Sever every exec stream opened here (its loop ended, or a close hung): each warden
        then ends what it lists, as for a controller that died."""
        try:
            for stream in list(self._streams):
                with contextlib.suppress(Exception):
                    stream.cut()
        finally:
            self.close()


def tcp_connector(host: str, port: int) -> Connector:
    """Connects protocols to an engine listening on tcp://HOST:PORT from this machine."""
    async def connect(protocol: asyncio.BaseProtocol) -> None:
        await asyncio.get_running_loop().create_connection(lambda: protocol, host, port)
    return connect


async def ping(local: Address, address: Address, where: str, *, hop: int, layer: str,
               connect: Connector | None = None) -> str:
    """Check the engine answers; return its API version. Raises distinct, named errors
    (`connect`, the previous hop's own way to the socket, tells why a forwarded one is mute)."""
    what = f"the docker engine at {address.url} on {where}"
    try:
        if local.path is not None:
            reader, writer = await asyncio.wait_for(
                asyncio.open_unix_connection(local.path), CONNECT_TIMEOUT)
        else:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(local.host, local.port), CONNECT_TIMEOUT)
    except FileNotFoundError:
        raise ConnectError(f"cannot reach {what}: {NO_SOCKET}",
                           hop=hop, layer=layer) from None
    except PermissionError:
        raise AuthError(f"permission denied on {address.path or address.url} on {where}: the "
                        f"user needs access to the docker socket (e.g. the 'docker' group)",
                        hop=hop, layer=layer) from None
    except ConnectionRefusedError:
        if local.path is not None and not is_socket(local.path):  # the kernel says "refused"
            raise ConnectError(f"cannot reach {what}: {local.path} is not a socket",
                               hop=hop, layer=layer) from None
        raise ConnectError(f"cannot reach {what}: connection refused (dockerd not running?)",
                           hop=hop, layer=layer) from None
    except (OSError, asyncio.TimeoutError) as exc:
        problem = socket_problem(local.path) if local.path is not None else None
        raise ConnectError(f"cannot reach {what}: {problem or exc or 'timed out'}",
                           hop=hop, layer=layer) from None
    try:
        writer.write(b"GET /_ping HTTP/1.1\r\nHost: docker\r\nConnection: close\r\n\r\n")
        head = await asyncio.wait_for(reader.read(4096), CONNECT_TIMEOUT)
    except asyncio.TimeoutError:  # it took the connection and said nothing: a hung engine
        raise ConnectError(f"cannot reach {what}: it took the connection but did not answer "
                           f"within {CONNECT_TIMEOUT:g} s (is the engine hung? its own "
                           f"client would hang there too)", hop=hop, layer=layer) from None
    except OSError:
        head = b""
    finally:
        writer.close()
    if not head:
        why = await _why_mute(connect) if local != address else None
        hint = (" (the socket may be missing there, or the remote user may lack permission "
                "to open it)" if local != address else "")
        cls = AuthError if isinstance(why, PermissionError) else ConnectError
        raise cls(f"cannot reach {what}: " + (str(why) if why else f"the connection closed "
                                                                   f"without an answer{hint}"),
                  hop=hop, layer=layer)
    status_line = head.split(b"\r\n", 1)[0]
    if not status_line.startswith(b"HTTP/1.") or b" 200 " not in status_line + b" ":
        raise ConnectError(f"{what} did not answer like a docker engine: {status_line[:80]!r}",
                           hop=hop, layer=layer)
    for line in head.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"api-version":
            return min_version(value.strip().decode(), docker.constants.DEFAULT_DOCKER_API_VERSION)
    return docker.constants.MINIMUM_DOCKER_API_VERSION


class _Closing(asyncio.Protocol):
    """Closes the connection as soon as it is made (a probe)."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        transport.close()


async def _why_mute(connect: Connector | None) -> OSError | None:
    """Why a forwarded socket closed without an answer, as the hop carrying it tells when asked
    directly (sshd refusing to forward, a missing socket; a `PermissionError`: the socket is
    there, not for the remote user); None when it does not know."""
    if connect is None:
        return None
    try:
        await asyncio.wait_for(connect(_Closing()), CONNECT_TIMEOUT)
    except (OSError, asyncio.TimeoutError) as exc:
        return exc if isinstance(exc, OSError) and str(exc) else None
    return None


def min_version(a: str, b: str) -> str:
    """The older of two API versions (speak the engine's version if it is older than ours)."""
    def key(v: str) -> tuple[int, ...]:
        return tuple(int(x) for x in v.split(".") if x.isdigit())
    return a if key(a) <= key(b) else b


def not_running(exc: docker.errors.APIError) -> bool:
    """Whether the engine refused an exec because the container is not running (any more).

    Docker answers 409 for a stopped or paused container and 404 for a removed one; podman
    answers 409 for a paused one, 404 for a removed one and 500 "container state improper" for a
    stopped one. Callers that must tell paused from stopped ask the engine (inspect).
    """
    if exc.status_code in (404, 409):
        return True
    return exc.status_code == 500 and "container state improper" in str(exc.explanation or "")


def connection_reason(exc: BaseException) -> str:
    """A lost connection's reason in words, not requests' and urllib3's nested reprs
    (`('Connection aborted.', FileNotFoundError(2, …))`): their first words and the OS error
    inside, `Connection aborted: No such file or directory`."""
    words: list[str] = []
    todo: list[object] = [exc]
    while todo:
        item = todo.pop(0)
        if isinstance(item, OSError) and item.strerror:
            return ": ".join([*words[:1], item.strerror])
        if isinstance(item, str) and item.strip():
            words.append(item.strip().rstrip("."))
        elif isinstance(item, BaseException):
            todo.extend(item.args)
    return ": ".join(words[:2]) or type(exc).__name__


@contextlib.contextmanager
def map_docker_errors(what: str, *, hop: int, layer: str, where: str,
                      engine: str = "the docker engine") -> Iterator[None]:
    """The one place docker-py / requests exceptions become our errors naming the hop.

    Our own errors pass through; callers handle the answers they expect (`not_running`) inside.
    """
    try:
        yield
    except LayerError:
        raise
    except docker.errors.APIError as exc:
        text = exc.explanation or str(exc)
        raise LayerError(f"{what}: the engine on {where} answered {exc.status_code}: {text}",
                         hop=hop, layer=layer) from None
    except requests.exceptions.ReadTimeout:  # connected, and no answer: not a lost engine
        raise LayerError(f"{what}: {engine} on {where} took the request but did not answer "
                         f"within its time limit (is the engine hung? its own client would "
                         f"hang there too)", hop=hop, layer=layer) from None
    except asyncio.TimeoutError:  # an OSError too (Python 3.11): not a lost engine (review47)
        raise LayerError(f"{what}: {engine} on {where} did not answer in time (is the engine "
                         f"hung? its own client would hang there too)", hop=hop,
                         layer=layer) from None
    except (requests.exceptions.ConnectionError, ConnectionError, OSError) as exc:
        raise ConnectError(f"{what}: lost {engine} on {where}: {connection_reason(exc)}",
                           hop=hop, layer=layer) from None
    except Exception as exc:  # docker-py raises a few bare ones (DockerException, ValueError)
        raise LayerError(f"{what}: {exc}", hop=hop, layer=layer) from None


def holds(pooled: object, engine: Engine | None) -> bool:
    """Whether the pool's entry `pooled` (a connect task) gave `engine`."""
    return isinstance(pooled, asyncio.Future) and pooled.done() and not pooled.cancelled() \
        and pooled.exception() is None and pooled.result() is engine


async def still_reached(place: Pooled, pooled: asyncio.Future[Engine]) -> bool:
    """Whether a pooled engine behind `place` can still be used: its hop answers, and its
    forwarded socket is open (closed with a connection set aside); one not ready is left be."""
    if not pooled.done() or pooled.cancelled() or pooled.exception() is not None:
        return True
    path = pooled.result().local.path
    return await place.answers() and (path is None or os.path.exists(path))
