"""An ssh_config `ProxyCommand`, started by the ssh layer rather than by asyncssh.

asyncssh starts a ProxyCommand with this process's whole environment, so the proxy (`nc`,
`cloudflared`, `aws ssm start-session`) would hold the secret provider's `ORCH_SECRET_*`
variables for the life of the pooled connection. Started here, it gets `inherited_environ()`
as every local child does. asyncssh takes it as the hop's `tunnel=`: `create_connection`
starts the command and speaks SSH over its stdin and stdout.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import Callable, Sequence
from typing import Any

from ..process.environ import inherited_environ
from .base import creating

#: How long a proxy that was told to end may take to be reaped (seconds).
END_WAIT = 5.0
#: How long a proxy whose stdin was closed may take to exit before it is killed (seconds).
KILL_AFTER = 2.0


class ProxyNotStarted(Exception):
    """The ProxyCommand's program could not be started (`cloudflared: not found`)."""


class ProxyCommand:
    """asyncssh's `tunnel=` for a host whose ssh_config names a ProxyCommand (`argv`, with its
    `%h`/`%p` tokens already expanded): one per connection, so its `wait_closed` is that
    connection's proxy ending (asyncssh forgets the proxy as it closes the connection)."""

    def __init__(self, argv: Sequence[str]) -> None:
        self.argv = tuple(argv)
        self._pipes: list[ProxyPipe] = []

    async def create_connection(self, session_factory: Callable[[], Any], host: str,
                                port: int) -> tuple[ProxyPipe, Any]:
        """Start the command; the SSH connection `session_factory()` makes runs over it."""
        loop = asyncio.get_running_loop()
        try:
            with creating():
                _, pipe = await loop.subprocess_exec(
                    lambda: ProxyPipe(session_factory()), *self.argv, stderr=None,
                    env=inherited_environ(), start_new_session=True)
        except OSError as exc:  # config16: said as "cannot reach HOST: No such file or …"
            why = "not found" if isinstance(exc, FileNotFoundError) else \
                (exc.strerror or str(exc)).lower()
            raise ProxyNotStarted(f"{self.argv[0]}: {why}") from None
        assert isinstance(pipe, ProxyPipe)
        pipe.conn.set_tunnel(pipe)  # the connection's close ends the command (as asyncssh's)
        self._pipes.append(pipe)
        return pipe, pipe.conn

    @property
    def running(self) -> bool:
        """Whether the command has not been reaped yet."""
        return any(not pipe.exited for pipe in self._pipes)

    def close(self) -> None:
        """End the command (the connection's close does it too)."""
        for pipe in self._pipes:
            pipe.close()

    async def wait_closed(self) -> None:
        """Return once the command has exited and been reaped."""
        for pipe in self._pipes:
            await pipe.wait_closed()

    async def end(self) -> None:
        """End the command and wait (5 s at most) until it is reaped: one still running when
        the event loop closes makes asyncio's child watcher warn on the user's stderr."""
        self.close()
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self.wait_closed(), END_WAIT)

    def __repr__(self) -> str:
        return f"ProxyCommand({' '.join(self.argv)})"


class ProxyPipe(asyncio.SubprocessProtocol):
    """The proxy process as the SSH connection's transport: its stdout is the server's bytes,
    the connection's writes go to its stdin; its stderr is left on this process's stderr, as
    OpenSSH leaves it on the terminal."""

    def __init__(self, conn: Any) -> None:
        self.conn = conn
        self._transport: asyncio.SubprocessTransport | None = None
        self._stdin: asyncio.WriteTransport | None = None
        self._exited = asyncio.Event()
        self._kill: asyncio.TimerHandle | None = None
        self._heard = False  # whether the server has said anything through it

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.SubprocessTransport)
        self._transport = transport
        self._loop = asyncio.get_running_loop()
        stdin = transport.get_pipe_transport(0)
        assert isinstance(stdin, asyncio.WriteTransport)
        self._stdin = stdin
        self.conn.connection_made(self)

    def pipe_data_received(self, fd: int, data: bytes | str) -> None:
        if fd == 1:
            self._heard = True
            self.conn.data_received(data)

    def pipe_connection_lost(self, fd: int, exc: Exception | None) -> None:
        if fd == 1:
            self.conn.connection_lost(exc)

    def process_exited(self) -> None:
        self._exited.set()
        self._release()

    # ---- the transport asyncssh's connection writes to --------------------------------------
    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return default if self._transport is None else self._transport.get_extra_info(
            name, default)

    def write(self, data: bytes) -> None:
        if self._stdin is not None:
            self._stdin.write(data)

    def abort(self) -> None:
        """asyncssh's end of every connection, a normal close too (review46: its DISCONNECT
        was lost, and a cloud tunnel could not end its session). A proxy the server has said
        nothing through yet is stuck in its own connect (`ssh -W` to a host that never
        answers): it is killed now, where EOF alone held a Ctrl-C back `KILL_AFTER` s
        (chains30); else it is told EOF and ends as `nc` and `ssh -W` do."""
        self.close(at_once=not self._heard)

    def close(self, *, at_once: bool = False) -> None:
        """End the proxy: EOF on its stdin (a proxy ends with its connection, as `nc` and
        `ssh -W` do), and a kill if it is still running `KILL_AFTER` s later (`at_once`: now).

        Its transport is closed only once asyncio's child watcher has reaped it: closing it
        before polls the process, and a process reaped there (it had just exited) makes the
        watcher say "Unknown child process pid N" on the user's stderr."""
        if self._transport is None:
            return
        if self._stdin is not None:
            self._stdin.close()
        if self.exited:
            self._release()
        elif at_once:
            self._kill_group()
        elif self._kill is None:
            self._kill = self._loop.call_later(KILL_AFTER, self._kill_group)

    def _kill_group(self) -> None:
        """Kill the proxy and its whole group (a wrapper's child stuck connecting too: `sh -c`,
        `aws ssm`: review45), to be reaped by the watcher, then released (`process_exited`);
        not through Popen, which reaps one that has just ended: the watcher then said
        "Unknown child process"."""
        if self._transport is not None and not self.exited:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self._transport.get_pid(), signal.SIGKILL)

    def _release(self) -> None:
        """Close the transport, once the proxy has been reaped."""
        if self._kill is not None:
            self._kill.cancel()
        if self._transport is not None:
            self._transport.close()
            self._transport = None

    @property
    def exited(self) -> bool:
        return self._exited.is_set()

    async def wait_closed(self) -> None:
        await self._exited.wait()
