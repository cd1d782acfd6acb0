"""SSH hops over asyncssh: pooled connections, chained with `tunnel=` through earlier hops.

A hop beyond another ssh hop is reached with a `direct-tcpip` channel on the previous hop's
pooled connection: nothing runs on the bastion. Connections live in the LaunchContext's pools,
keyed by the chain prefix (`Launcher.key`), and are replaced when found dead. How a process is
started on the far side is in `remote.py` and `ssh_process.py`."""

from __future__ import annotations

import asyncio
import functools
import os
import shlex
import signal as _signal
from collections.abc import Awaitable, Callable, Hashable
from typing import TYPE_CHECKING, Any

import asyncssh

from ..config.reading import judged
from ..errors import ConnectError, LayerError, StreamError
from ..process.command import Command
from ..process.handle import ProcessHandle
from ..process.sharing import share
from . import forward_folders
from .after_loss import CLEANUP_TIMEOUT, GiveUp, TryAgain, kill_after_loss
from .base import SILENT_AFTER, Launcher, TunnelCarrier, connecting, go_ahead
from .remote import kill_group_line, preamble, shell_line
from .remote_limits import too_long
from .ssh_channel import ProtocolSession
from .ssh_connect import (
    KeyRecorder,
    connect_options,
    map_connect_errors,
    map_session_errors,
    refusal,
    retrieved,
    where,
)
from .ssh_files import SSHFiles
from .ssh_hostconfig import read_host_config
from .ssh_jump import connect_over, open_jumps
from .ssh_liveness import ANSWER, answers
from .ssh_pool import Pool, Slot
from .ssh_process import SSHBackend, wait_for_pid, wait_for_ready
from .ssh_proxy import ProxyCommand
from .ssh_socket import socket_problem

if TYPE_CHECKING:  # the kind module imports this one inside wrap()
    from .ssh import SSHConfig

#: Terminal type requested for `tty: true` runs.
TERM_TYPE = "xterm-256color"
#: Flow-control window per channel: large enough for a fast link's bandwidth-delay product.
WINDOW = 8 << 20
#: What the windows of runs going at once may hold in all (a fleet's), each at least
#: MIN_WINDOW: 250 chatty targets buffered 8 MiB each, 1.26 GB (fleets9).
SHARED_WINDOWS, MIN_WINDOW = 256 << 20, 256 << 10
#: Largest data packet we accept on a unix-socket channel (OpenSSH accepts up to 256 KiB).
CHANNEL_PACKET = 128 << 10
#: Where each LaunchContext keeps its SSHFiles (parsed keys and known_hosts).
FILES_KEY = ("ssh-files",)


def window() -> int:
    """A new channel's window: WINDOW, or its share of SHARED_WINDOWS (process.sharing)."""
    return min(WINDOW, share(SHARED_WINDOWS, MIN_WINDOW))


class SSHLauncher(Launcher):
    """Runs commands on an SSH host (through `inner`'s tunnel when inner is an ssh hop)."""

    def __init__(self, config: SSHConfig, inner: Launcher, label: str) -> None:
        self.adopt(inner, label)
        self.config = config

    @property
    def key(self) -> Hashable:
        """This hop's config after the way to the previous one: the key of its pool."""
        assert self.inner is not None
        return ("ssh", self.inner.key, self.config)

    def _err(self, cls: type[LayerError], message: str) -> LayerError:
        """`error` in the argument order of ssh_connect's ErrorFactory."""
        return self.error(message, cls)

    # ---- pool -------------------------------------------------------------------------------
    def _pool(self) -> Pool:
        """This hop's pool of connections (made on first use, closed with the context)."""
        pool = self.context.pools.get(self.key)
        if not isinstance(pool, Pool):
            pool = Pool(functools.partial(_end_forwards, self.context.pools, self.key))
            self.context.pools[self.key] = pool
            self.context.on_close(pool.aclose, pool.cut)
        return pool

    async def _primary(self) -> Slot:
        return await self._pool().primary(self._connect, self._answer_within)

    async def _acquire(self) -> Slot:
        return await self._pool().acquire(self._connect, self._answer_within)

    @property
    def _answer_within(self) -> float:
        return min(ANSWER, self.config.connect_timeout)

    async def answers(self) -> bool:
        """Whether this hop has a pooled connection that answers a keepalive now (silent ones
        set aside): the `Pooled` capability, asked when a connection through it timed out."""
        return await self._pool().answering(self._answer_within)

    async def cut_if_silent(self, within: float = SILENT_AFTER) -> str | None:
        """Whether this hop's connections went silent: each is asked for a keepalive reply at
        once, and those without one are closed, so what rides on them (a container's exec
        stream, its warden, a tunnel) ends as lost, and the host ends their sessions once it
        hears of it. Why, when some were; the `Pooled` capability."""
        pool, below = self._pool(), self.inner.place if self.inner is not None else None
        slots = [slot for slot in (*pool.slots, *pool.aside) if not slot.conn.is_closed()]
        carrying = asyncio.ensure_future(below.cut_if_silent(within)) if isinstance(
            below, SSHLauncher) else None  # the hop carrying this one's, asked at once
        replies = await asyncio.gather(*(answers(s.conn, within) for s in slots))
        carrier = await carrying if carrying is not None else None
        for slot, replied in zip(slots, replies, strict=True):
            if not replied:
                slot.conn.abort()
        if carrier is not None or all(replies):  # the lowest silent hop is the one to name
            return carrier
        return (f"hop {self.depth} ({self.label}) stopped answering (no keepalive reply within "
                f"{within:g} s): its connection is closed")

    async def _connect(self) -> Slot:
        assert self.inner is not None
        place = self.inner.place
        if not isinstance(place, TunnelCarrier):
            raise self._err(ConnectError, f"{place.label} cannot carry a connection to "
                                          f"another host")
        tunnel = await place.tunnel()
        cfg = self.config
        recorder = KeyRecorder()
        files = self.context.pools.setdefault(FILES_KEY, SSHFiles())
        host = await read_host_config(cfg.ssh_config, cfg.host, cfg.user, cfg.port,
                                      f"hop {self.depth} ({self.label})", found=cfg.found)
        for name, named in (("identity_file", cfg.identity_file), ("known_hosts", cfg.known_hosts)):
            if cfg.found and named:  # as resolved: a placeholder's, an inventory's (safety24)
                judged(os.path.expanduser(named), f"ssh layer's {name}")
        kw = connect_options(cfg, self._err, files, host)
        kw["client_factory"] = lambda: recorder
        proxy = None
        if tunnel is not None:
            kw["tunnel"] = tunnel
        elif host.proxy_command:  # started by us: asyncssh would pass it our whole environment
            kw["tunnel"] = proxy = ProxyCommand(host.proxy_command)
        try:
            jump = host.proxy_jump if tunnel is None else None  # behind a hop: unused
            via = f"its ProxyJump {jump}" if jump else place.label
            with map_connect_errors(cfg, self._err, recorder, depth=self.depth, via=via,
                                    host=host, jump=jump):
                try:
                    with connecting():
                        attempt = asyncio.ensure_future(self._reach(kw, files, jump))
                        attempt.add_done_callback(retrieved)
                        conn = await asyncio.wait_for(attempt, cfg.connect_timeout)
                except asyncio.TimeoutError:  # the hop carrying it may be the silent one
                    if isinstance(place, SSHLauncher) and not await place.answers():
                        raise place.silent() from None
                    raise
        except BaseException:  # a failure, or a cancel (Ctrl-C while connecting)
            if proxy is not None:  # ended before the error is said (and orch maybe exits)
                await asyncio.shield(proxy.end())
            raise
        finally:  # no frame keeps the password in a plain dict: a traceback printed with its
            kw.pop("password", None)  # locals showed it (safety21)
        return Slot(conn, proxy)

    async def _reach(self, kw: dict[str, Any], files: SSHFiles,
                     jump: str | None) -> asyncssh.SSHClientConnection:
        """The hop's connection, through its ssh_config's ProxyJump hosts when it names them,
        which orch opens (`ssh_jump`: asyncssh would read their options unjudged)."""
        below = None if jump is None else await open_jumps(
            jump, self.config, self._err, files, f"hop {self.depth} ({self.label})")
        return await connect_over(self.config.host, kw, below)

    def silent(self) -> LayerError:
        """The error of this hop's pooled connection gone silent under a hop behind it."""
        return self._err(ConnectError, f"{where(self.config)} stopped answering: its pooled "
                                       f"connection did not reply within {self._answer_within:g}"
                                       f" s (set aside; the next run connects again)")

    # ---- capabilities: this hop carries tunnels and forwards unix sockets -------------------
    async def tunnel(self) -> object | None:
        return (await self._primary()).conn

    async def connect_unix(self, path: str, protocol: asyncio.BaseProtocol) -> None:
        """Connect `protocol` to `path` on this host over a channel of the pooled connection."""
        slot = await self._primary()
        try:
            await slot.conn.create_unix_connection(lambda: ProtocolSession(protocol), path,
                                                   window=window(),
                                                   max_pktsize=CHANNEL_PACKET)
        except asyncssh.ChannelOpenError as exc:
            # OpenSSH refuses a unix socket with code 2 ("open failed"), as for a missing one:
            # a socket the user may open means forwarding is off
            problem = await socket_problem(slot.conn, path, CLEANUP_TIMEOUT)
            why = refusal(exc, "AllowStreamLocalForwarding", refused=problem is None)
            said, cls = problem or ("", ConnectionError)
            raise cls(f"cannot open {path} on {self.label}: {why}"
                      + (f": {said}" if said else "")) from None
        except asyncssh.Error as exc:
            raise ConnectionError(f"cannot open {path} on {self.label}: {exc.reason}") from None

    async def forward_unix(self, path: str) -> str:
        """A local unix socket whose connections reach `path` on this host (forwarded)."""
        key = ("ssh-forward", self.key, path)
        entry = self.context.pools.get(key)
        slot = await self._primary()
        if entry is not None:
            listener, local, conn = entry
            if conn is slot.conn:
                return str(local)
            _close_forward(listener, local)  # its connection died or was set aside: afresh
        local = forward_folders.made_socket()
        try:
            listener = await slot.conn.forward_local_path(local, path)
        except (OSError, asyncssh.Error) as exc:
            raise self._err(ConnectError, f"cannot forward {path}: {exc}") from None
        self.context.pools[key] = (listener, local, slot.conn)
        if entry is None:
            async def close() -> None:
                current = self.context.pools.get(key)
                if current is not None:
                    _close_forward(current[0], current[1])
            self.context.on_close(close)
        return local

    # ---- launching --------------------------------------------------------------------------
    async def _open(self, command: Command, line: str,
                    size: int) -> tuple[Slot, asyncssh.SSHClientProcess[bytes]]:
        for attempt in (1, 2):
            slot = await self._acquire()
            try:
                with map_session_errors(self._err, f"cannot start a session on "
                                                   f"{where(self.config)}"):
                    # As bytes: argv may hold bytes that are not UTF-8 (surrogates, as Python
                    # keeps them), which asyncssh would refuse to encode for a str.
                    process = await _opened(slot.conn.create_process(
                        line.encode("utf-8", "surrogateescape"),  # type: ignore[arg-type]
                        encoding=None, window=size,
                        term_type=TERM_TYPE if command.tty else None, request_pty=command.tty,
                        term_size=command.size if command.tty else None,
                        stderr=asyncssh.STDOUT if command.tty else asyncssh.PIPE,
                    ), self.config.connect_timeout)
                return slot, process
            except StreamError:
                slot.sessions -= 1
                self._pool().retire(slot)  # dead or refusing: the next attempt connects afresh
                if attempt == 2:
                    raise
            except BaseException:  # cancelled (Ctrl-C while starting): give the place back
                self._pool().release(slot)
                raise
        raise AssertionError("unreachable")

    async def launch(self, command: Command) -> ProcessHandle:
        pre = preamble(command, always=True)  # awaited: `go_ahead` can hold it, tty too
        line = shell_line(command.argv, len(pre))
        if (why := too_long(command, line)) is not None:
            raise self._err(LayerError, f"the command is too long for {where(self.config)} "
                                        f"({why}): pass large data on stdin or in a file")
        size = window()
        slot, process = await self._open(command, line, size)
        # Keep several MiB in flight while stdin is fed: with the default 64 KiB high-water mark
        # every drain() waited for an almost empty buffer, stalling the pipe once per chunk.
        process.channel.set_write_buffer_limits(high=size // 2, low=size // 8)
        initial, pid = b"", None
        try:
            with map_session_errors(self._err, "cannot start the command"):
                if command.tty and pre:  # the preamble waits for the terminal to be raw
                    initial, pid = await asyncio.wait_for(wait_for_pid(process),
                                                          self.config.connect_timeout)
                if pre:
                    go_ahead()
                    process.stdin.write(pre)
                if command.tty and pre:  # and the input for it to be cooked again
                    initial += await asyncio.wait_for(wait_for_ready(process),
                                                      self.config.connect_timeout)
        except BaseException:
            process.close()
            self._pool().release(slot)
            raise
        backend = SSHBackend(
            process, slot, tty=command.tty,
            error=lambda msg: self._err(StreamError, msg), blame=self.lost_by,
            release=lambda: self._pool().release(slot), recover=self.kill_after_loss,
            cut_way=self.cut_if_silent,
            initial=initial, pid=pid)
        return ProcessHandle(backend, command, chain=self.chain)

    def lost_by(self) -> Callable[[str], LayerError]:
        """The error of a lost connection, said by the hop that lost it: the lowest one whose
        own connection is down (a bastion's drop takes every connection through it)."""
        below = self.inner.place if self.inner is not None else None
        if isinstance(below, SSHLauncher) and below.connection_down():
            return below.lost_by()
        return lambda message: self._err(StreamError, message)

    def dropped_by(self) -> Callable[[str], LayerError] | None:
        """The `Pooled` capability: who says a loss of what rides on this hop (a layer after
        it, whose own stream only saw its end)."""
        return self.lost_by() if self.connection_down() else None

    def connection_down(self) -> bool:
        """Whether this hop had connections and every one of them is closed."""
        return self._pool().down()

    async def kill_after_loss(self, pgid: int) -> str:
        """The connection carrying process group `pgid` died: reconnect, kill it, say what
        happened (or what is left, and where, when the host cannot be reached again)."""
        place = f"process group {pgid} on {where(self.config)}"
        line = f"sh -c {shlex.quote(kill_group_line(pgid, _signal.SIGKILL))}"

        async def kill_once() -> str:
            try:
                slot = await asyncio.wait_for(self._acquire(), CLEANUP_TIMEOUT)
            except LayerError as exc:
                raise GiveUp(f"reconnecting failed: {exc.said_at(self.depth)}") from None
            except asyncio.TimeoutError:
                raise GiveUp(f"reconnecting failed: timed out connecting to "
                             f"{where(self.config)} after {CLEANUP_TIMEOUT:g} s") from None
            reason = "no answer"
            try:
                done = await asyncio.wait_for(slot.conn.run(line, check=False), CLEANUP_TIMEOUT)
                if done.exit_status is not None:
                    return f"reconnected and killed {place}"
            except (asyncssh.Error, OSError, asyncio.TimeoutError) as exc:
                reason = getattr(exc, "reason", None) or str(exc) or type(exc).__name__
            finally:
                self._pool().release(slot)
            self._pool().retire(slot)  # the next try takes another connection
            raise TryAgain(f"killing it failed: {reason}")

        return str(await kill_after_loss(place, kill_once))


async def _opened(opening: Awaitable[asyncssh.SSHClientProcess[bytes]],
                  timeout: float) -> asyncssh.SSHClientProcess[bytes]:
    """The session `opening` opens, awaited up to `timeout`. Given up meanwhile (a cancel, the
    timeout), it goes on and what it still opens is closed: its wrapper, sent no preamble,
    ends with nothing run. Cancelled half-way, asyncssh left the session open, its wrapper
    waiting on stdin for as long as the pooled connection lived (review42 F9)."""
    task = asyncio.ensure_future(opening)
    try:
        return await asyncio.wait_for(asyncio.shield(task), timeout)
    except BaseException:
        task.add_done_callback(_close_opened)
        raise


def _close_opened(task: asyncio.Future[asyncssh.SSHClientProcess[bytes]]) -> None:
    if not task.cancelled() and task.exception() is None:
        task.result().close()


def _end_forwards(pools: dict[Hashable, Any], key: Hashable, slot: Slot) -> None:
    """Pool `key`'s connection `slot` was set aside: the unix sockets forwarded over it end
    (their users connect afresh)."""
    for name, entry in list(pools.items()):
        if isinstance(name, tuple) and name[:2] == ("ssh-forward", key) \
                and entry[2] is slot.conn:
            _close_forward(entry[0], entry[1])


def _close_forward(listener: asyncssh.SSHListener, local: str) -> None:
    """Stop forwarding to the local socket `local` and remove it with its private folder."""
    listener.close()
    forward_folders.remove(local)
