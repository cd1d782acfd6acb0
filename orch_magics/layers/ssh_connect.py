"""SSH connections for one hop: options from the config, the pool, asyncssh errors mapped.

`map_connect_errors` (connecting: ConnectError / AuthError / HostKeyError) and
`map_session_errors` (sessions on an open connection: StreamError) are where asyncssh and OS
errors become ours, naming the hop. The connections themselves are pooled in `ssh_pool.py`.
"""

from __future__ import annotations

import asyncio
import contextlib
import encodings.idna  # noqa: F401  now, not at a first lookup past `ulimit -n` (fleets19)
import functools
import os
import re
import shlex
import socket
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, Protocol

import asyncssh

from ..errors import (
    AuthError,
    ConnectError,
    HostKeyError,
    LayerError,
    PasswordRejected,
    StreamError,
)
from ..process.environ import PLACEHOLDER
from ..text import plural
from .ssh_files import SYSTEM_KNOWN_HOSTS, SSHFiles
from .ssh_hostconfig import HostConfig
from .ssh_proxy import ProxyNotStarted
from .ssh_unresolved import NO_NAME, UNRESOLVED, jump_failed, unresolved_message

if TYPE_CHECKING:  # the kind module imports this one inside wrap()
    from .ssh import SSHConfig



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
    """Remembers the host key the server offered, for a useful host-key error, and the
    connection, to tell a server that never spoke SSH."""

    def __init__(self) -> None:
        self.offered: tuple[str, str, int, asyncssh.SSHKey] | None = None
        self.conn: asyncssh.SSHClientConnection | None = None

    def connection_made(self, conn: asyncssh.SSHClientConnection) -> None:
        self.conn = conn

    def spoke_ssh(self) -> bool:
        """Whether the server sent its SSH version line."""
        return self.conn is None or bool(self.conn.get_extra_info("server_version"))

    def silent(self) -> str | None:
        """When the server took the connection but sent no SSH version line: how many other
        lines it sent (a greeting of another protocol: SMTP, MySQL), else None."""
        if self.spoke_ssh():
            return None
        lines = getattr(self.conn, "_banner_lines", 0)  # private-ok: asyncssh counts them only
        return (f"it sent {plural(lines, 'line')} of another protocol and no "
                f"SSH version line" if lines else "it sent no SSH version line")

    def validate_host_public_key(self, host: str, addr: str, port: int,
                                 key: asyncssh.SSHKey) -> bool:
        self.offered = (host, addr, port, key)
        return False


def retrieved(attempt: asyncio.Future[Any]) -> None:
    """A connect given up on (a stop, the timeout) may still end in an error of its own, as
    the tunnel under it closes (ConnectionLost): nobody awaits it then, and Python printed
    "Task exception was never retrieved" and its traceback after orch's line (chains9). So
    the attempt is one task of ours, timed by us (asyncssh's connect_timeout made another)."""
    if not attempt.cancelled():
        attempt.exception()


def connect_options(cfg: SSHConfig, err: ErrorFactory, files: SSHFiles,
                    host: HostConfig) -> dict[str, Any]:
    """asyncssh.connect keyword arguments for this hop (`err(cls, msg)` builds our errors;
    key and known_hosts files come parsed from `files`, read once per LaunchContext; `host`
    is what the ssh_config says about this host)."""
    # connect_timeout: None, timed by the launcher (`retrieved`); not left out, or asyncssh
    # takes an ssh_config's ConnectTimeout over the layer's (review18)
    # request_pty: False, a session has a terminal only when orch asks for one (a run's `tty`):
    # an ssh_config's `RequestTTY force` gave every run, copy and kill one (files14)
    # send_env/env: None, no variable travels but in the preamble: an ssh_config's `SendEnv
    # ORCH_*` sent the ORCH_SECRET_* ones to the target, unmasked (safety21)
    kw: dict[str, Any] = {"connect_timeout": None, "request_pty": False,
                          "send_env": None, "env": None,
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
    kw.update(_key_options(cfg, err, files, host))
    if cfg.ssh_config is not None:
        kw["config"] = [os.path.expanduser(cfg.ssh_config)]
    if cfg.insecure_accept_host_key:
        kw["known_hosts"] = None
    elif (known := files.known_hosts(cfg.known_hosts, cfg.ssh_config, host.known_hosts)) != ():
        kw["known_hosts"] = known
    if cfg.password is not None:
        if PLACEHOLDER.search(cfg.password):
            raise err(LayerError, "password is still an unresolved placeholder: layer "
                                  "placeholders are resolved when a plan is made (make_plan)")
        kw["password"] = cfg.password
    return kw


def _key_options(cfg: SSHConfig, err: ErrorFactory, files: SSHFiles,
                 host: HostConfig) -> dict[str, Any]:
    """`client_keys` as OpenSSH picks them: a passphrase-protected key is used through the
    agent's copy (`ignore_encrypted`), a missing ssh_config `IdentityFile` is skipped."""
    if cfg.identity_file is not None:
        key_path = os.path.expanduser(cfg.identity_file)
        if not os.path.isfile(key_path):  # else ENOENT: "cannot reach"
            raise err(AuthError, f"identity_file {cfg.identity_file} does not exist "
                                 f"(or is not a file)")
        if _public_key(key_path):  # config14: said as a login the server refused
            raise err(AuthError, f"identity_file {cfg.identity_file} is a public key: name "
                                 f"the private one (without .pub)")
        return {"client_keys": files.client_keys(key_path, cfg.ssh_config),
                "ignore_encrypted": True}
    if host.identity_files:
        present = [f for f in host.identity_files if os.path.isfile(f)]
        if not present and not os.environ.get("SSH_AUTH_SOCK"):
            raise err(AuthError, f"no identity file to log in with: "
                                 f"{missing_identity_files(host)} (and no ssh-agent)")
        # none left: the agent's keys (asyncssh adds the default ~/.ssh/id_* to them)
        return {"client_keys": present, "ignore_encrypted": True}
    keys = files.client_keys(None, cfg.ssh_config)
    return {} if keys == () else {"client_keys": keys}


def _public_key(path: str) -> bool:
    """Whether the file starts as an OpenSSH public key line (`ssh-ed25519 AAAA…`)."""
    with contextlib.suppress(OSError), open(path, "rb") as f:
        return re.match(rb"(ssh|ecdsa|sk)-[\w@.-]+ AAAA", f.read(64)) is not None
    return False


def missing_identity_files(host: HostConfig) -> str:
    """`the IdentityFile A, B in CONFIG do not exist` (for messages)."""
    missing = [f for f in host.identity_files if not os.path.isfile(f)]
    verb = "does" if len(missing) == 1 else "do"
    return f"the IdentityFile {', '.join(missing)} in {host.path} {verb} not exist"


def known_hosts_files(cfg: SSHConfig, host: HostConfig) -> tuple[str, ...]:
    """The known_hosts files the host key is checked against (as asyncssh picks them)."""
    if cfg.known_hosts is not None:
        return (os.path.expanduser(cfg.known_hosts),)
    if host.known_hosts is not None:  # `UserKnownHostsFile none`: the system's files
        return host.known_hosts or tuple(filter(os.path.isfile, SYSTEM_KNOWN_HOSTS))
    return (os.path.expanduser("~/.ssh/known_hosts"),)


def where(cfg: SSHConfig) -> str:
    """`host` or `host:port`, as the user wrote it (for messages)."""
    return f"{cfg.host}:{cfg.port}" if cfg.port else cfg.host


def who(cfg: SSHConfig) -> str:
    """`user@host:port` when a user is configured (for authentication messages)."""
    return f"{cfg.user}@{where(cfg)}" if cfg.user else where(cfg)


@contextlib.contextmanager
def map_connect_errors(cfg: SSHConfig, err: ErrorFactory, recorder: KeyRecorder, *, depth: int,
                       via: str, host: HostConfig, jump: str | None = None,
                       jump_host: bool = False) -> Iterator[None]:
    """asyncssh / OS errors while connecting → our errors naming the hop. Through an
    ssh_config `ProxyJump` (connected first, and the jump host resolves and connects the
    target), a failure on this machine is the jump host's (config14: each was said of the
    target, one as "the HostName it gives does not resolve"); what its server refused was
    said already (`ssh_jump`), and a timeout may be either's. `jump`: the ProxyJump that
    opens this connection (None when a hop before carries it); `jump_host`: `cfg` is such a
    jump host's own, which the layer's options do not reach."""
    maybe_jump = f" (through its ProxyJump {jump}: it may be that host's)" if jump else ""
    try:
        yield
    except asyncssh.HostKeyNotVerifiable as exc:
        raise err(HostKeyError, host_key_message(cfg, recorder, exc, depth, via,
                                                 known_hosts_files(cfg, host),
                                                 jump=jump_host)) from None
    except asyncssh.PermissionDenied as exc:  # with a password given, it was refused too
        refused = AuthError if cfg.password is None else PasswordRejected
        raise err(refused, f"authentication failed for {who(cfg)}: {exc.reason} "
                           f"{auth_hint(cfg, host)}") from None
    except asyncssh.ChannelOpenError as exc:
        if any(words in (exc.reason or "").lower() for words in UNRESOLVED):
            raise err(ConnectError, unresolved_message(cfg, f" on {via}")) from None
        raise err(ConnectError, f"{via} could not open a connection to {where(cfg)}: "
                                f"{refusal(exc, 'AllowTcpForwarding')}") from None
    except asyncssh.DisconnectError as exc:
        if not recorder.spoke_ssh():
            raise err(ConnectError, f"{where(cfg)} did not answer as an SSH server: it "
                                    f"closed the connection before sending an SSH version line "
                                    f"({exc.reason})") from None
        raise err(ConnectError, f"{where(cfg)} disconnected: {exc.reason}") from None
    except asyncssh.KeyImportError as exc:
        raise err(AuthError, f"cannot read identity file {cfg.identity_file}: {exc}") from None
    except (asyncio.TimeoutError, TimeoutError):
        if (silent := recorder.silent()) is not None:  # a server that speaks first, then waits
            raise err(ConnectError, f"{where(cfg)} did not answer as an SSH server: {silent} "
                                    f"in {cfg.connect_timeout:g} s") from None
        raise err(ConnectError, f"timed out connecting to {where(cfg)} after "
                                f"{cfg.connect_timeout:g} s{maybe_jump}") from None
    except ProxyNotStarted as exc:
        raise err(ConnectError, f"its ProxyCommand (ssh_config {host.path}) could not start: "
                                f"{exc}") from None
    except socket.gaierror as exc:
        if jump:
            raise err(ConnectError, jump_failed(cfg, jump, exc)) from None
        if exc.errno in NO_NAME:
            raise err(ConnectError, unresolved_message(cfg)) from None
        raise err(ConnectError, f"cannot resolve {cfg.host!r}: {exc.strerror}") from None
    except (OSError, OverflowError, ValueError) as exc:
        if jump and isinstance(exc, OSError):
            raise err(ConnectError, jump_failed(cfg, jump, exc)) from None
        reason = _reason(exc)
        if (silent := recorder.silent()) is not None:  # e.g. it wrote an error and reset
            raise err(ConnectError, f"{where(cfg)} did not answer as an SSH server: {silent}, "
                                    f"then: {reason}") from None
        raise err(ConnectError, f"cannot reach {where(cfg)}: {reason}") from None


#: asyncssh's words when `getpass.getuser()` found no name (it asks at every connection), and
#: Python 3.13's own, which asyncssh lets through.
_NO_LOCAL_USER = ("Unknown local username", "No username set in the environment")


def _reason(exc: BaseException) -> str:
    """A failed connection's reason in words: its OS error's, or what asyncssh said."""
    errno = getattr(exc, "errno", None)
    reason = (os.strerror(errno) if errno else str(exc)) or type(exc).__name__
    return _no_local_user(reason) if reason.startswith(_NO_LOCAL_USER) else reason


def _no_local_user(words: str) -> str:
    """Why no local user name was found: with no LOGNAME or USER set it is read from the
    password database, which takes a descriptor, so past `ulimit -n` that is the reason."""
    try:
        os.close(os.open(os.devnull, os.O_RDONLY))
    except OSError as exc:
        return exc.strerror or words
    return words


def auth_hint(cfg: SSHConfig, host: HostConfig) -> str:
    """What to check after a refused login; a passphrase-protected identity_file is usable
    only through ssh-agent (orch has no passphrase option), as OpenSSH's `-i` with an agent."""
    if cfg.identity_file is not None and is_encrypted(os.path.expanduser(cfg.identity_file)):
        agent = ("" if os.environ.get("SSH_AUTH_SOCK")
                 else " (no agent here: SSH_AUTH_SOCK is not set)")
        return (f"(identity_file {cfg.identity_file} is passphrase-protected: orch uses it "
                f"through ssh-agent only; load it with `ssh-add {shlex.quote(cfg.identity_file)}`"
                f"{agent}, or name an unencrypted key)")
    password = ", the password" if cfg.password is not None else ""
    skipped = ""
    if cfg.identity_file is None and any(not os.path.isfile(f) for f in host.identity_files):
        skipped = f"; {missing_identity_files(host)}"
    return (f"(check user{password}, identity_file, ssh-agent and the server's "
            f"authorized_keys{skipped})")


def is_encrypted(path: str) -> bool:
    """Whether the private key at `path` needs a passphrase."""
    try:
        asyncssh.read_private_key(path)
    except asyncssh.KeyImportError as exc:
        return str(exc).startswith("Passphrase")
    except (OSError, ValueError):
        return False
    return False


def refusal(exc: asyncssh.ChannelOpenError, setting: str, *, refused: bool = False) -> str:
    """A channel-open failure with its code, naming the sshd `setting` when the server refuses
    to forward ("administratively prohibited", or `refused` as the caller found out)."""
    code = _OPEN_FAILURES.get(exc.code, "channel open failed")
    reason = f"{code} ({exc.reason or 'no reason given'}, code {exc.code})"
    if refused or exc.code == asyncssh.OPEN_ADMINISTRATIVELY_PROHIBITED:
        return (f"{reason}: its sshd refuses forwarding; it needs `{setting} yes` in its "
                f"sshd_config")
    return reason


#: RFC 4254 channel open failure codes, as OpenSSH prints them.
_OPEN_FAILURES = {asyncssh.OPEN_ADMINISTRATIVELY_PROHIBITED: "administratively prohibited",
                  asyncssh.OPEN_CONNECT_FAILED: "connect failed",
                  asyncssh.OPEN_UNKNOWN_CHANNEL_TYPE: "unknown channel type",
                  asyncssh.OPEN_RESOURCE_SHORTAGE: "resource shortage"}


@contextlib.contextmanager
def map_session_errors(err: ErrorFactory, what: str) -> Iterator[None]:
    """asyncssh / OS errors on an open connection (sessions, channels) → StreamError."""
    try:
        yield
    except (asyncssh.Error, OSError, asyncio.TimeoutError) as exc:
        reason = getattr(exc, "reason", None) or str(exc) or type(exc).__name__
        raise err(StreamError, f"{what}: {reason}") from None


def host_key_message(cfg: SSHConfig, recorder: KeyRecorder, exc: Exception, depth: int,
                     via: str, files: tuple[str, ...], *, jump: bool = False) -> str:
    """Unknown or changed host key: what the server offered, checked against the known_hosts
    `files` asyncssh consulted. A changed key names the offending FILE:LINE, as OpenSSH does,
    and is never advised to be trusted. `jump`: a ProxyJump host's, which the layer's own
    options do not reach (review43: they were advised)."""
    if recorder.offered is None:
        return f"host key of {where(cfg)} not accepted: {exc}"
    host, addr, port, key = recorder.offered
    fingerprint = key.get_fingerprint("sha256")
    entry = host if port in (22, None) else f"[{host}]:{port}"
    offending = offending_entry(files, host, addr, None if port == 22 else port)
    if offending is not None:
        path, line = offending
        return (f"host key for {entry} CHANGED: the server offered {fingerprint}, but "
                f"another key is recorded for it: offending key in {path}:{line}. "
                f"This can be an attack (someone in the middle): do not trust the new key "
                f"unless the host's administrator confirms that fingerprint. If the host was "
                f"reinstalled, remove the old key with `ssh-keygen -f {shlex.quote(path)} -R "
                f"{shlex.quote(entry)}` and connect again.")
    if not files:
        return (f"host key for {entry} is unknown: the ssh_config reads no known_hosts file "
                f"(UserKnownHostsFile none); the server offered {fingerprint}. Name one with "
                + ("UserKnownHostsFile in its entry of the ssh_config." if jump else
                   "`known_hosts:` on this layer, or set `insecure_accept_host_key: true` to "
                   "skip the check (unsafe)."))
    known = files[0]
    scan = f"ssh-keyscan -p {port} {shlex.quote(host)}"
    trust = (f"`{scan} >> {shlex.quote(known)}`" if depth == 1 else
             f"`{scan}` run on {via} (which reaches this host), its output appended to "
             f"{known} on this machine")
    return (f"host key for {entry} is unknown (not in {', '.join(files)}); the server offered "
            f"{fingerprint}. If that fingerprint is right, trust it with {trust} (or connect "
            f"once with OpenSSH `ssh`)" + ("." if jump else ", or set `insecure_accept_host_key: "
                                          "true` on this layer to skip the check (unsafe)."))


def offending_entry(files: tuple[str, ...], host: str, addr: str,
                    port: int | None) -> tuple[str, int] | None:
    """FILE:LINE of the first known_hosts entry holding a key for this host (the host key
    offered was not trusted, so any such key is another one)."""
    for path in files:
        try:
            with open(path, encoding="utf-8", errors="replace") as f:
                lines = f.read().splitlines()
        except OSError:
            continue
        for number, line in enumerate(lines, 1):
            if not line.strip() or line.lstrip().startswith(("#", "@")):
                continue
            try:
                if asyncssh.import_known_hosts(line).match(host, addr, port)[0]:
                    return path, number
            except (ValueError, asyncssh.Error):
                continue
    return None
