"""SSH connections for one hop: options from the config, the pool, asyncssh errors mapped.

`map_connect_errors` (connecting: ConnectError / AuthError / HostKeyError) and
`map_session_errors` (sessions on an open connection: StreamError) are where asyncssh and OS
errors become ours, naming the hop. Connections live in `Pool`s (one per
chain prefix, in the LaunchContext) and hold at most `SESSIONS_PER_CONNECTION` sessions each.
"""

from __future__ import annotations

import asyncio
import contextlib
import fnmatch
import functools
import os
import re
import shlex
import socket
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, Protocol

import asyncssh

from ..errors import AuthError, ConnectError, HostKeyError, LayerError, StreamError
from ..process.environ import PLACEHOLDER
from .ssh_files import SSHFiles

if TYPE_CHECKING:  # the kind module imports this one inside wrap()
    from .ssh import SSHConfig

#: Sessions opened per pooled connection before another connection is made (sshd's default
#: MaxSessions is 10; one is kept free for the kill fallback).
SESSIONS_PER_CONNECTION = 9


@functools.cache
def _preferred_ciphers() -> tuple[str, ...]:
    """asyncssh's default ciphers with AES-GCM first (worked out once per process).

    OpenSSL's AES-GCM (AES-NI) encrypts several times faster than asyncssh's ChaCha20-Poly1305
    here, which decides throughput because one Python process encrypts every hop: measured
    1 GB stdin through two hops went from 0.53x to 0.95x OpenSSH's `ssh -J`, stdout through
    one hop from 1.19x to 1.71x. Servers without GCM still negotiate one of the others.
    """
    from asyncssh.encryption import get_default_encryption_algs

    algs = [a.decode("ascii") for a in get_default_encryption_algs()]
    gcm = sorted((a for a in algs if a.endswith("-gcm@openssh.com")),
                 key=lambda a: not a.startswith("aes128"))
    return (*gcm, *(a for a in algs if a not in gcm))


class ErrorFactory(Protocol):
    """Builds one of our errors naming the hop (the launcher's `_err`)."""

    def __call__(self, cls: type[LayerError], message: str) -> LayerError: ...


class KeyRecorder(asyncssh.SSHClient):
    """Remembers the host key the server offered, for a useful host-key error."""

    def __init__(self) -> None:
        self.offered: tuple[str, str, int, asyncssh.SSHKey] | None = None

    def validate_host_public_key(self, host: str, addr: str, port: int,
                                 key: asyncssh.SSHKey) -> bool:
        self.offered = (host, addr, port, key)
        return False


class Slot:
    """One pooled connection and how many sessions it carries."""

    def __init__(self, conn: asyncssh.SSHClientConnection) -> None:
        self.conn = conn
        self.sessions = 0
        self.signal_requests = _honours_signal_requests(conn)


class Pool:
    """The connections of one chain prefix; the first live one also carries tunnels."""

    def __init__(self) -> None:
        self.slots: list[Slot] = []
        self.lock = asyncio.Lock()

    def prune(self) -> None:
        self.slots = [s for s in self.slots if not s.conn.is_closed()]

    async def aclose(self) -> None:
        slots, self.slots = self.slots, []
        for slot in slots:
            slot.conn.close()
        for slot in slots:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(slot.conn.wait_closed(), 5)


def _honours_signal_requests(conn: asyncssh.SSHClientConnection) -> bool:
    """OpenSSH sshd honours RFC 4254 `signal` requests from 7.9 on; other servers: unknown."""
    version = conn.get_extra_info("server_version") or ""
    m = re.search(r"OpenSSH_(\d+)\.(\d+)", version)
    return m is not None and (int(m.group(1)), int(m.group(2))) >= (7, 9)


def connect_options(cfg: SSHConfig, err: ErrorFactory, files: SSHFiles) -> dict[str, Any]:
    """asyncssh.connect keyword arguments for this hop (`err(cls, msg)` builds our errors;
    key and known_hosts files come parsed from `files`, read once per LaunchContext)."""
    kw: dict[str, Any] = {"connect_timeout": cfg.connect_timeout,
                          "keepalive_interval": cfg.keepalive, "keepalive_count_max": 3,
                          "encryption_algs": _preferred_ciphers()}
    if cfg.port is not None:
        kw["port"] = cfg.port
    if cfg.user is not None:
        kw["username"] = cfg.user
    unread = None if cfg.insecure_accept_host_key else cfg.known_hosts  # insecure: not read
    for key, path in (("ssh_config", cfg.ssh_config), ("known_hosts", unread)):
        if path is not None and not os.path.isfile(os.path.expanduser(path)):  # else: ENOENT
            raise err(ConnectError, f"{key} {path} does not exist (or is not a file)")
    key_path = None if cfg.identity_file is None else os.path.expanduser(cfg.identity_file)
    if key_path is not None and not os.path.isfile(key_path):  # else ENOENT: "cannot reach"
        raise err(AuthError, f"identity_file {cfg.identity_file} does not exist "
                             f"(or is not a file)")
    if (keys := files.client_keys(key_path, cfg.ssh_config)) != ():
        kw["client_keys"] = keys
    if cfg.ssh_config is not None:
        kw["config"] = [os.path.expanduser(cfg.ssh_config)]
    if cfg.insecure_accept_host_key:
        kw["known_hosts"] = None
    elif (known := files.known_hosts(cfg.known_hosts, cfg.ssh_config)) != ():
        kw["known_hosts"] = known
    if cfg.password is not None:
        if PLACEHOLDER.search(cfg.password):
            raise err(LayerError, "password is still an unresolved placeholder: layer "
                                  "placeholders are resolved when a plan is made (make_plan)")
        kw["password"] = cfg.password
    return kw


def where(cfg: SSHConfig) -> str:
    """`host` or `host:port`, as the user wrote it (for messages)."""
    return f"{cfg.host}:{cfg.port}" if cfg.port else cfg.host


def who(cfg: SSHConfig) -> str:
    """`user@host:port` when a user is configured (for authentication messages)."""
    return f"{cfg.user}@{where(cfg)}" if cfg.user else where(cfg)


def host_entry(cfg: SSHConfig) -> str | None:
    """The `Host` line of the ssh_config in use whose patterns match `cfg.host`, if any."""
    path = os.path.expanduser(cfg.ssh_config or "~/.ssh/config")
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            lines = f.read().splitlines()
    except OSError:
        return None
    for line in lines:
        words = line.strip().split()
        if len(words) < 2 or words[0].lower() != "host":
            continue
        patterns = [w for w in words[1:] if not w.startswith("!")]
        if any(fnmatch.fnmatchcase(cfg.host, p) for p in patterns):
            return line.strip()
    return None


def unresolved_message(cfg: SSHConfig) -> str:
    """Why the name did not resolve, and whether the ssh_config knew it."""
    config = cfg.ssh_config or "~/.ssh/config"
    entry = host_entry(cfg)
    if entry is None:
        return (f"the host name {cfg.host!r} does not resolve (no `Host` entry for it in "
                f"{config}, and DNS / /etc/hosts do not know it)")
    return (f"the host name {cfg.host!r} does not resolve: {config} has `{entry}` for it, but "
            f"the HostName it gives does not resolve either")


@contextlib.contextmanager
def map_connect_errors(cfg: SSHConfig, err: ErrorFactory, recorder: KeyRecorder, *, depth: int,
                       via: str) -> Iterator[None]:
    """asyncssh / OS errors while connecting → our errors naming the hop."""
    try:
        yield
    except asyncssh.HostKeyNotVerifiable as exc:
        raise err(HostKeyError, host_key_message(cfg, recorder, exc, depth, via)) from None
    except asyncssh.PermissionDenied as exc:
        raise err(AuthError, f"authentication failed for {who(cfg)}: {exc.reason} (check user, "
                             f"identity_file, ssh-agent and the server's authorized_keys)") from None
    except asyncssh.ChannelOpenError as exc:
        raise err(ConnectError, f"{via} could not open a connection to {where(cfg)}: "
                                f"{exc.reason}") from None
    except asyncssh.DisconnectError as exc:
        raise err(ConnectError, f"{where(cfg)} disconnected: {exc.reason}") from None
    except asyncssh.KeyImportError as exc:
        raise err(AuthError, f"cannot read identity file {cfg.identity_file}: {exc}") from None
    except (asyncio.TimeoutError, TimeoutError):
        raise err(ConnectError, f"timed out connecting to {where(cfg)} after "
                                f"{cfg.connect_timeout:g} s") from None
    except socket.gaierror as exc:
        if exc.errno in (socket.EAI_NONAME, getattr(socket, "EAI_NODATA", None)):
            raise err(ConnectError, unresolved_message(cfg)) from None
        raise err(ConnectError, f"cannot resolve {cfg.host!r}: {exc.strerror}") from None
    except (OSError, OverflowError, ValueError) as exc:
        errno = getattr(exc, "errno", None)
        reason = (os.strerror(errno) if errno else str(exc)) or type(exc).__name__
        raise err(ConnectError, f"cannot reach {where(cfg)}: {reason}") from None


@contextlib.contextmanager
def map_session_errors(err: ErrorFactory, what: str) -> Iterator[None]:
    """asyncssh / OS errors on an open connection (sessions, channels) → StreamError."""
    try:
        yield
    except (asyncssh.Error, OSError, asyncio.TimeoutError) as exc:
        reason = getattr(exc, "reason", None) or str(exc) or type(exc).__name__
        raise err(StreamError, f"{what}: {reason}") from None


def host_key_message(cfg: SSHConfig, recorder: KeyRecorder, exc: Exception, depth: int,
                     via: str) -> str:
    """Unknown or changed host key: what the server offered and the command that fixes it."""
    if recorder.offered is None:
        return f"host key of {where(cfg)} not accepted: {exc}"
    host, addr, port, key = recorder.offered
    fingerprint = key.get_fingerprint("sha256")
    entry = host if port in (22, None) else f"[{host}]:{port}"
    known = cfg.known_hosts or "~/.ssh/known_hosts"
    path = os.path.expanduser(known)
    try:
        old = asyncssh.read_known_hosts(path).match(host, addr, port)[0] \
            if os.path.exists(path) else []
    except (OSError, ValueError):
        old = []
    scan = f"ssh-keyscan -p {port} {host}"
    if depth > 1:
        scan += f" (run on {via}, which reaches this host)"
    if old:
        return (f"host key for {entry} CHANGED: the server offered {fingerprint}, but {known} "
                f"holds another key for it. This can be an attack. If the host was "
                f"reinstalled, remove the old key with `ssh-keygen -f {known} -R "
                f"{shlex.quote(entry)}` and add the new one after checking its fingerprint "
                f"(`{scan} >> {known}`).")
    return (f"host key for {entry} is unknown (not in {known}); the server offered "
            f"{fingerprint}. If that fingerprint is right, trust it with `{scan} >> {known}` "
            f"(or connect once with OpenSSH `ssh`), or set `insecure_accept_host_key: true` "
            f"on this layer to skip the check (unsafe).")
