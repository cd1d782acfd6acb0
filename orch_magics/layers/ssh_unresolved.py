"""Why an SSH hop's host name did not resolve: whether its ssh_config knows the name (a `Host`
entry, one of the files it `Include`s) or has a near alias, and, through a `ProxyJump`, which
host it was (the jump host resolves the target itself)."""

from __future__ import annotations

import fnmatch
import glob
import os
import socket
from typing import TYPE_CHECKING

from ..config.suggest import did_you_mean

if TYPE_CHECKING:  # the kind module imports ssh_connect, which imports this one
    from .ssh import SSHConfig

#: getaddrinfo's answers for a name that does not exist.
NO_NAME = (socket.EAI_NONAME, getattr(socket, "EAI_NODATA", None))


def host_lines(cfg: SSHConfig) -> list[tuple[str, list[str]]]:
    """(line, its patterns) of each `Host` line of the ssh_config in use, those of the files
    it `Include`s in their place (relative names: under ~/.ssh, as OpenSSH reads them)."""
    return _lines_of(os.path.expanduser(cfg.ssh_config or "~/.ssh/config"), depth=0)


def _lines_of(path: str, depth: int) -> list[tuple[str, list[str]]]:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            lines = f.read().splitlines()
    except OSError:
        return []
    found: list[tuple[str, list[str]]] = []
    for line in lines:
        words = line.strip().split()
        if len(words) >= 2 and words[0].lower() == "host":
            found.append((line.strip(), [w for w in words[1:] if not w.startswith("!")]))
        elif len(words) >= 2 and words[0].lower() == "include" and depth < 16:  # ssh's limit
            for pattern in words[1:]:
                pattern = os.path.join(os.path.expanduser("~/.ssh"), os.path.expanduser(pattern))
                for included in sorted(glob.glob(pattern)):
                    found += _lines_of(included, depth + 1)
    return found


def host_entry(cfg: SSHConfig, name: str | None = None) -> str | None:
    """The `Host` line of the ssh_config in use whose patterns match `name` (default
    `cfg.host`), if any."""
    name = cfg.host if name is None else name
    lines = host_lines(cfg)  # its own alias first: a `Host *` above it gives none (review27)
    return next((line for line, patterns in lines if name in patterns), None) or next(
        (line for line, patterns in lines if any(fnmatch.fnmatchcase(name, p)
                                                 for p in patterns)), None)


#: How a hop's resolver says a name does not resolve (sshd passes on gai_strerror): glibc,
#: musl (Alpine bastions), BSD.
UNRESOLVED = ("name resolution", "not known", "does not resolve", "no address associated")


def unresolved_message(cfg: SSHConfig, seen_from: str = "") -> str:
    """Why the name did not resolve (`seen_from`: on the hop before, which resolved it), and
    whether the ssh_config knew it or has a near `Host` alias (a misspelt one)."""
    config = cfg.ssh_config or "~/.ssh/config"
    entry = host_entry(cfg)
    if entry is None:
        near = did_you_mean(cfg.host, _aliases(cfg))
        hint = f" (did you mean {near!r}, a `Host` of {config}?)" if near else ""
        return (f"the host name {cfg.host!r} does not resolve{seen_from}{hint} (no `Host` "
                f"entry for it in {config}, and DNS / /etc/hosts do not know it)")
    return (f"the host name {cfg.host!r} does not resolve{seen_from}: {config} has `{entry}` "
            f"for it, but {_NO_HOSTNAME}")


#: What a `Host` entry that did not help says: its HostName, or, when it gives none (a
#: misspelt `HostNme` is ignored: config14), the alias itself was looked up.
_NO_HOSTNAME = ("the HostName it gives does not resolve either (or it gives none: a keyword "
                "misspelt there is ignored, and the alias itself is looked up)")


def _aliases(cfg: SSHConfig) -> list[str]:
    """The names the ssh_config's `Host` lines give (its patterns, wildcards left out)."""
    return [p for _, patterns in host_lines(cfg) for p in patterns
            if not any(c in p for c in "*?[")]


def jump_failed(cfg: SSHConfig, jump: str, exc: OSError) -> str:
    """Why the ProxyJump of this hop could not be reached, naming it (a misspelt alias gets
    the `Host` of the ssh_config it is nearest to)."""
    config = cfg.ssh_config or "~/.ssh/config"
    if isinstance(exc, socket.gaierror) and exc.errno in NO_NAME:
        first = jump.split(",")[0].rpartition("@")[2]
        name = first.rsplit(":", 1)[0] if first.count(":") == 1 else first
        aliases = _aliases(cfg)
        entry = host_entry(cfg, name) if name in aliases else None
        near = None if entry else did_you_mean(name, aliases)
        reason = f"the host name {name!r} does not resolve" + (
            f": {config} has `{entry}` for it, but {_NO_HOSTNAME}" if entry else  # review26
            f" (did you mean {near!r}, a `Host` of {config}?)" if near else "")
    else:
        reason = (os.strerror(exc.errno) if exc.errno else str(exc)) or type(exc).__name__
    return f"cannot reach {cfg.host}'s ProxyJump {jump} (from {config}): {reason}"


