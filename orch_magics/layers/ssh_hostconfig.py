"""What the ssh_config in use says about one host, read as asyncssh reads it.

The host-key check and the key files depend on it: the known_hosts files actually consulted
(`UserKnownHostsFile` / `GlobalKnownHostsFile`), and the `IdentityFile`s of which OpenSSH skips
the missing ones. A `ProxyCommand` is read here too: the layer starts it (`ssh_proxy.py`). A mistake in the file (not UTF-8, a bad value) is a ConfigError naming it.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import contextvars
import functools
import getpass
import os
import re
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import asyncssh.config as asyncssh_config
from asyncssh.config import SSHClientConfig, SSHConfig
from asyncssh.misc import split_args

from ..config.reading import judged, owner_name
from ..errors import ConfigError
from ..process.environ import inherited_environ

#: asyncssh's parse errors read `PATH line N: REASON`.
_PARSE_ERROR = re.compile(r"^(?P<file>.*) line (?P<line>\d+): (?P<reason>.*)$", re.S)


#: How long one `Match exec` may take before it is ended and taken as false (OpenSSH waits
#: for ever: a probe of a host that does not answer held every run of the process).
MATCH_EXEC_WITHIN = 10.0
#: How long a `Match exec`'s answer is reused: asyncssh parses the ssh_config again as it
#: connects, right after orch read it; the command runs once per connect, as in OpenSSH.
MATCH_EXEC_KEPT = 30.0
#: Set when whoever reads the ssh_config gave up (a stop, a timeout): the command is ended.
_GIVEN_UP: contextvars.ContextVar[threading.Event | None] = contextvars.ContextVar(
    "orch_match_exec_given_up", default=None)
_ANSWERS: dict[str, tuple[float, bool]] = {}
#: The threads ssh_configs are read in: their own, so slow `Match exec` commands do not hold
#: asyncio's default pool, which docker calls and copies share (review43); made afresh in a
#: forked child, which has none of its parent's threads.
_READERS: list[concurrent.futures.ThreadPoolExecutor] = []


def _readers() -> concurrent.futures.ThreadPoolExecutor:
    if not _READERS:
        _READERS.append(concurrent.futures.ThreadPoolExecutor(
            max_workers=16, thread_name_prefix="orch-ssh-config"))
    return _READERS[0]


os.register_at_fork(after_in_child=_READERS.clear)


def _match_exec(cmd: str) -> bool:
    """An ssh_config's `Match exec` condition, as asyncssh runs it (a shell, nothing on its
    stdin or outputs, true on status 0), but with the environment every child of orch gets
    (asyncssh's gave it the secret provider's ORCH_SECRET_* variables: safety23), ended with
    what it started past MATCH_EXEC_WITHIN or once its reader gave up (review42)."""
    kept = _ANSWERS.get(cmd)
    if kept is not None and time.monotonic() - kept[0] < MATCH_EXEC_KEPT:
        return kept[1]
    given_up = _GIVEN_UP.get() or threading.Event()
    proc = subprocess.Popen(cmd, shell=True, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, env=inherited_environ(),
                            start_new_session=True)
    deadline = time.monotonic() + MATCH_EXEC_WITHIN
    while proc.poll() is None and time.monotonic() < deadline and not given_up.is_set():
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(0.05)
    if proc.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        if given_up.is_set():
            return False  # nobody reads this answer
    _ANSWERS[cmd] = (time.monotonic(), proc.returncode == 0)
    return proc.returncode == 0


# asyncssh parses ssh_config itself too (at each connect): its one runner of `Match exec` is
# replaced, here where every ssh layer's options are read first.
asyncssh_config._exec = _match_exec  # private-ok: asyncssh has no option for it


@dataclass(frozen=True)
class HostConfig:
    """The options of one host from its ssh_config (`path` None: no ssh_config is read)."""

    path: str | None
    known_hosts: tuple[str, ...] | None  # None: the config names none (asyncssh's default)
    identity_files: tuple[str, ...]
    #: The `ProxyCommand` argv, tokens expanded (None: none, or a `ProxyJump`, which wins in
    #: asyncssh, is set).
    proxy_command: tuple[str, ...] | None = None
    #: The `ProxyJump` it names (None: none): the host that opens this connection.
    proxy_jump: str | None = None


def config_path(ssh_config: str | None) -> str | None:
    """The ssh_config asyncssh reads: the given one, else ~/.ssh/config when readable."""
    if ssh_config is not None:
        return os.path.expanduser(ssh_config)
    default = os.path.expanduser("~/.ssh/config")
    return default if os.access(default, os.R_OK) else None


async def read_host_config(ssh_config: str | None, host: str, user: str | None,
                           port: int | None, hop: str, *, found: bool = False) -> HostConfig:
    """`host_config` in a thread: its `Match exec` commands may take seconds, and the loop
    runs every other run of the process, their timeouts and Ctrl-C (review42: all froze);
    a cancel ends the command it runs."""
    given_up = threading.Event()
    token = _GIVEN_UP.set(given_up)  # seen by the thread, which runs in a copy of the context
    try:
        read = functools.partial(host_config, ssh_config, host, user, port, hop, found=found)
        return await asyncio.get_running_loop().run_in_executor(
            _readers(), contextvars.copy_context().run, read)
    except BaseException:
        given_up.set()
        raise
    finally:
        _GIVEN_UP.reset(token)


def host_config(ssh_config: str | None, host: str, user: str | None, port: int | None,
                hop: str, *, found: bool = False) -> HostConfig:
    """Read the ssh_config for `host` (`hop` names the hop in a ConfigError). Each file read
    is judged as OpenSSH judges ~/.ssh/config (every one it includes, and that one when it
    is the one read), and as a found config's files (`found`: `reading.judged`), with the
    known_hosts and key files it names, when a config found in the working folder gave it
    (safety21: an `Include` of another user's file ran its ProxyCommand as root)."""
    path = config_path(ssh_config)
    if path is None or not os.path.isfile(path):  # a missing one: connect_options says so
        return HostConfig(path, None, ())
    top = os.path.abspath(path)

    def judge(file: str) -> None:  # a found config's as its other files; OpenSSH checks
        if found and ssh_config is not None:  # ~/.ssh/config and every file included,
            judged(file, f"ssh_config of {hop}")  # whichever way the top one was given
        if ssh_config is None or os.path.abspath(file) != top:  # (review40: `ssh_config:
            _check_owner(file, hop)  # ~/.ssh/config` took the Include the default refuses)
    _check_utf8(path, hop)
    try:
        config = _judging(judge).load(None, [path], False, False, False, _local_user(),
                                      () if user is None else user, host,
                                      () if port is None else port)
    except RecursionError:  # asyncssh follows Includes with no limit (OpenSSH stops at 16)
        raise ConfigError(f"its Includes never end: a file includes itself, directly or "
                          f"through another (ssh_config of {hop})", file=path) from None
    except UnicodeDecodeError as exc:  # an Include'd file
        raise ConfigError(f"an ssh_config it includes is not UTF-8 text ({exc.reason}; "
                          f"ssh_config of {hop})", file=path) from None
    except OSError as exc:
        raise ConfigError(f"cannot read the ssh_config of {hop}: {exc.strerror or exc}",
                          file=path) from None
    except ValueError as exc:
        m = _PARSE_ERROR.match(str(exc))
        if m is None:
            raise ConfigError(f"{exc} (ssh_config of {hop})", file=path) from None
        raise ConfigError(f"{m['reason']} (ssh_config of {hop})", file=m["file"],
                          line=int(m["line"])) from None
    chosen = config.get("Port")
    if isinstance(chosen, int) and not 0 < chosen < 65536:
        raise ConfigError(f"Port {chosen} is outside 1-65535 (ssh_config of {hop}, or a file "
                          f"it includes)", file=path)
    proxy, jump = config.get("ProxyCommand"), config.get("ProxyJump")
    chosen = HostConfig(path, _known_hosts(config), tuple(
        os.path.expanduser(f) for f in _strings(config.get("IdentityFile"))),
        tuple(split_args(proxy)) if isinstance(proxy, str) and not jump else None,
        jump if isinstance(jump, str) and jump.lower() != "none" else None)
    for named in (*(chosen.known_hosts or ()), *chosen.identity_files) if found else ():
        judged(named, f"file the ssh_config of {hop} names")
    return chosen


def _judging(check: Callable[[str], None]) -> type[SSHClientConfig]:
    """asyncssh's client config, with each file it parses (the given one, and each it
    includes) handed to `check` first."""

    class Judged(SSHClientConfig):
        def parse(self, path: Path) -> None:
            check(str(path))
            super().parse(path)

    return Judged


def _known_hosts(config: SSHConfig) -> tuple[str, ...] | None:
    """The known_hosts files the config names: UserKnownHostsFile then GlobalKnownHostsFile
    (`UserKnownHostsFile none`: the global ones alone, () when it names none: the system's
    are read then, ssh_files); None when it names neither (~/.ssh/known_hosts)."""
    user = config.get("UserKnownHostsFile")
    if user == []:  # `none`: the global files alone (the system's when none is named)
        return tuple(os.path.expanduser(f) for f in _strings(config.get("GlobalKnownHostsFile")))
    files = [*_strings(user), *_strings(config.get("GlobalKnownHostsFile"))]
    return tuple(os.path.expanduser(f) for f in files) if files else None


def _strings(value: object) -> list[str]:
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


def _local_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "root"  # asyncssh refuses to connect then, with its own message


def _check_owner(path: str, hop: str) -> None:
    """~/.ssh/config, and each file it includes, refused as OpenSSH refuses it ("Bad owner
    or permissions"): owned by another user than you or root, or writable by its group or
    anyone (safety20: another user's ProxyCommand in it ran as you)."""
    st = os.stat(path)
    if st.st_uid not in (0, os.geteuid()) or st.st_mode & 0o022:
        raise ConfigError(f"bad owner or permissions (owner {owner_name(st.st_uid)}, mode "
                          f"{st.st_mode & 0o7777:04o}): ssh refuses it too, as anyone who may "
                          f"write it chooses what runs as you (ssh_config of {hop}): chown it "
                          f"to yourself and chmod go-w it", file=path)


def _check_utf8(path: str, hop: str) -> None:
    """A ConfigError naming the line when the file is not UTF-8 text (asyncssh says only
    "'utf-8' codec can't decode byte …")."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError:
        return  # asyncssh's read reports it
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        raise ConfigError(f"not UTF-8 text (byte 0x{data[exc.start]:02x}; ssh_config of {hop})",
                          file=path, line=line) from None
