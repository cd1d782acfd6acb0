"""Client keys and known_hosts files read once per LaunchContext, again only when they change.

Given paths (or nothing: the defaults), asyncssh reads and parses these files on every
connect: a fleet of N hosts whose known_hosts holds a line per host parsed N lines N times (N²
key imports: 0.9 ms of CPU per connect at 101 lines, 7.7 ms at 1,010), and a 3072-bit
~/.ssh/id_rsa was imported, its primes checked, for each connection (~110 ms of CPU each).
`SSHFiles` keeps the parsed objects keyed by the files' identity (inode, size, mtime, ctime),
so an edited file (`ssh-keygen -R`, a rotated key) is read again on the next connect. A file
that cannot be read or parsed is handed to asyncssh as a path, which then reports the problem
exactly as it always did.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Hashable
from typing import TypeVar

import asyncssh
from asyncssh.public_key import load_default_keypairs

T = TypeVar("T")
#: The known_hosts files OpenSSH reads when an ssh_config names no GlobalKnownHostsFile.
SYSTEM_KNOWN_HOSTS = ("/etc/ssh/ssh_known_hosts", "/etc/ssh/ssh_known_hosts2")
#: What identifies one version of a file (None when it is absent), and of a set of files.
FileStamp = tuple[int, int, int, int, int] | None
Stamp = tuple[FileStamp, ...]


def _stamp(*paths: str) -> Stamp:
    stamps: list[FileStamp] = []
    for path in paths:
        try:
            st = os.stat(path)
        except OSError:
            stamps.append(None)
            continue
        stamps.append((st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns))
    return tuple(stamps)


def _config_names(ssh_config: str | None, *words: str) -> bool:
    """Whether the ssh_config in use mentions one of `words` (or includes another file, which
    could): then asyncssh is left to apply it per host."""
    path = os.path.expanduser(ssh_config or "~/.ssh/config")
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            text = f.read().lower()
    except OSError:
        return False
    return any(word in text for word in (*words, "include"))


def _default_known_hosts(ssh_config: str | None) -> str | None:
    """~/.ssh/known_hosts when asyncssh would use it (the ssh_config names no known-hosts
    file and it is readable); else None."""
    if _config_names(ssh_config, "knownhostsfile"):
        return None
    path = os.path.expanduser("~/.ssh/known_hosts")
    return path if os.path.isfile(path) and os.access(path, os.R_OK) else None


def _default_key_files() -> tuple[str, ...]:
    """The files asyncssh's default keys come from (~/.ssh/id_*, their .pub and -cert.pub)."""
    folder = os.path.expanduser("~/.ssh")
    try:
        names = sorted(e.name for e in os.scandir(folder) if e.name.startswith("id_"))
    except OSError:
        return ()
    return tuple(os.path.join(folder, name) for name in names)


def _read_known_hosts(files: tuple[str, ...]) -> asyncssh.SSHKnownHosts:
    """`files` read as OpenSSH reads them: a line it cannot parse (a lone host name, a bad
    marker or hash, bytes not UTF-8) is skipped, not the whole file refused (config16: one
    such line failed every hop with "Invalid known hosts entry", where `ssh` connected)."""
    known = asyncssh.import_known_hosts("")
    for path in files:
        with open(path, "rb") as f:
            text = f.read().decode("utf-8", "replace")
        for line in text.splitlines():
            with contextlib.suppress(ValueError):
                known.load(line)
    return known


class SSHFiles:
    """Parsed client keys and known_hosts of one LaunchContext (see the module docstring)."""

    def __init__(self) -> None:
        self._cache: dict[Hashable, tuple[Stamp, object]] = {}

    def _load(self, key: Hashable, paths: tuple[str, ...], load: Callable[[], T]) -> T | None:
        """`load()`'s result, cached until one of `paths` changes; None when it fails."""
        stamp = _stamp(*paths)
        hit = self._cache.get(key)
        if hit is not None and hit[0] == stamp:
            return hit[1]  # type: ignore[return-value]
        try:
            value = load()
        except (OSError, ValueError, asyncssh.Error):  # asyncssh reports it, as before
            self._cache.pop(key, None)
            return None
        self._cache[key] = (stamp, value)
        return value

    def known_hosts(self, path: str | None, ssh_config: str | None,
                    named: tuple[str, ...] | None = None) -> object:
        """The `known_hosts` argument for asyncssh: `path` (None: the files the ssh_config
        names for this host, `named`, else the default file) parsed once, or what asyncssh
        reads itself (the path, or () for its own default)."""
        if path is not None:
            files: tuple[str, ...] = (os.path.expanduser(path),)
        elif named is not None:  # `UserKnownHostsFile none`: the system's files alone, as ssh
            files = tuple(f for f in named or SYSTEM_KNOWN_HOSTS if os.path.isfile(f))
            if not files:  # nothing known: every host key is refused (review30: asyncssh
                return asyncssh.import_known_hosts("")  # took `none` for no check at all)
        else:
            files = tuple(filter(None, [_default_known_hosts(ssh_config)]))
        if not files:
            return ()
        parsed = self._load(("known_hosts", files), files, lambda: _read_known_hosts(files))
        return parsed if parsed is not None else list(files)

    def client_keys(self, path: str | None, ssh_config: str | None) -> object:
        """The `client_keys` argument for asyncssh: the key pair at `path` (None: the default
        ~/.ssh/id_* keys) with the certificate beside it, read once; else what asyncssh reads
        itself (the path as a list, or () for its own default)."""
        if path is None:
            if _config_names(ssh_config, "identityfile", "certificatefile", "identitiesonly",
                             "pkcs11provider"):
                return ()
            files = _default_key_files()
            pairs = self._load(("client_keys", files), files, load_default_keypairs)
            return pairs if pairs else ()
        if _config_names(ssh_config, "certificatefile", "identitiesonly"):
            return [path]  # per-host certificates or agent filtering: asyncssh applies them
        paths = (path, path + "-cert.pub", path + ".pub")
        pairs = self._load(("client_keys", path), paths, lambda: asyncssh.load_keypairs([path]))
        return pairs if pairs else [path]
