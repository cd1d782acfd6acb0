"""How a forward reaches its target for each client: a TCP connection from this machine
(`direct`), or a `direct-tcpip` channel of an SSH hop's pooled connection (`Through`).

`Through` asks the hop for its connection at every client, so after a drop the pool connects
afresh (through every earlier hop, as a run does) and the forward outlives the connection it
started on.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable
from typing import Any, Protocol, runtime_checkable

from ..layers.base import TunnelCarrier
from .relay import Connect, Reader, Writer

#: Seconds to wait for a connection to the target (the probe at opening, and each client's).
CONNECT_TIMEOUT = 10.0


@runtime_checkable
class Channels(Protocol):
    """What an SSH hop's tunnel object can do (asyncssh's SSHClientConnection)."""

    async def open_connection(self, host: str, port: int) -> Any: ...

    def is_closed(self) -> bool: ...


def reason(exc: BaseException) -> str:
    """The one-line reason of a failed connection (OSError, asyncssh's errors, ours)."""
    if isinstance(exc, (asyncio.TimeoutError, TimeoutError)):
        return f"no answer within {CONNECT_TIMEOUT:g} s"
    if isinstance(exc, OSError) and exc.errno and exc.errno > 0 and exc.strerror:
        return os.strerror(exc.errno)  # asyncio's own words: "Connect call failed ('h', 80)"
    return (getattr(exc, "reason", None) or getattr(exc, "strerror", None) or str(exc)
            or type(exc).__name__)


def direct(host: str, port: int) -> Connect:
    """Connections to host:port from this machine."""
    async def connect() -> tuple[Reader, Writer]:
        return await asyncio.wait_for(asyncio.open_connection(host, port), CONNECT_TIMEOUT)
    return connect


class Through:
    """Connections to host:port as the SSH hop `node` sees it, over its pooled connection as it
    is when each client comes; `notice` hears of a reconnect."""

    def __init__(self, node: TunnelCarrier, label: str, host: str, port: int,
                 notice: Callable[[str], None]) -> None:
        self.node, self.label, self.host, self.port = node, label, host, port
        self.notice = notice
        self.last: Channels | None = None

    async def __call__(self) -> tuple[Reader, Writer]:
        for attempt in (1, 2):  # a pooled connection may not know yet that it has dropped
            tunnel = await self._tunnel()
            try:
                return await _opened(tunnel.open_connection(self.host, self.port))
            except Exception:
                if attempt == 2 or not tunnel.is_closed():
                    raise
        raise AssertionError("unreachable")

    async def _tunnel(self) -> Channels:
        tunnel = await self.node.tunnel()
        assert isinstance(tunnel, Channels)  # `listen` checked the hop's kind of tunnel
        if self.last is not None and tunnel is not self.last:
            self.last = tunnel  # said once, whatever the one told does with it
            self.notice(f"the connection to {self.label} had dropped; reconnected")
        self.last = tunnel
        return tunnel


async def _opened(opening: Awaitable[Any]) -> tuple[Reader, Writer]:
    """The channel `opening` gives within CONNECT_TIMEOUT. One given up on (too slow, or the
    forward closed meanwhile) is not forgotten: sshd goes on connecting, and a channel that
    opens later is closed at once, or it would hold the target's connection for as long as
    the ssh connection lived (files7)."""
    task = asyncio.ensure_future(opening)
    try:
        done, _ = await asyncio.wait([task], timeout=CONNECT_TIMEOUT)
    except asyncio.CancelledError:
        task.add_done_callback(_close_when_open)
        raise
    if not done:
        task.add_done_callback(_close_when_open)
        raise asyncio.TimeoutError
    reader, writer = task.result()
    return reader, writer


def _close_when_open(task: asyncio.Future[Any]) -> None:
    if not task.cancelled() and task.exception() is None:
        _reader, writer = task.result()
        writer.close()
