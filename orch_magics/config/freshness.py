"""What a config was read from, stamped (path, change time, size), so a long-lived
Orchestrator (a notebook's) reads it again once any of it changed: the config files, named
or found automatically, the inventories they name, and the group_vars/ and host_vars/
folders beside those."""

from __future__ import annotations

import os
import uuid
import weakref
from collections.abc import Iterable, Sequence

from ..errors import ConfigError
from .files import find_config_files
from .inventory_vars import folder_of
from .loader import load_config
from .model import Config

#: (path, st_mtime_ns, st_size) of every file and folder read; (path, 0, -1) for one missing.
Stamp = tuple[tuple[str, int, int], ...]


class AsGiven:
    """A Config object given to an Orchestrator: kept as given (its maker holds the text)."""

    def __init__(self, config: Config) -> None:
        self._config = config
        #: What answers typed at a secret prompt are kept for: the files read (review35: a
        #: Config loaded from files asked again for every Orchestrator), else this Config
        #: object (review34: every config made from text shared one scope).
        self.scope = config.origin or (f"<config {_token(config)}>",)

    def current(self) -> Config:
        return self._config

    def last(self) -> Config:
        return self._config


#: id(config) → (the Config, its token): one token per Config object made from text, never
#: another's (a weak reference tells a reused id).
_TOKENS: dict[int, tuple[weakref.ref[Config], str]] = {}


def _token(config: Config) -> str:
    key = id(config)
    ref, token = _TOKENS.get(key, (None, ""))
    if ref is None or ref() is not config:
        token = uuid.uuid4().hex  # dropped with its Config (review36: kept for ever)
        _TOKENS[key] = (weakref.ref(config, lambda gone: _forget(key, gone)), token)
    return token


def _forget(key: int, gone: weakref.ref[Config]) -> None:
    if _TOKENS.get(key, (None, ""))[0] is gone:  # not a newer Config's at a reused id
        del _TOKENS[key]


class ReadAgain:
    """A config read from `files` (absolute paths; None: found automatically, as `orch`
    finds it), read again once what it was read from changed, as each `orch` command reads
    it (config13; config18: files named by `%orch load` or `Orchestrator('orch.yaml')` were
    read once, so a `protected: true` added later was never applied). A file saved with a
    mistake is refused at every read until it is fixed, never replaced by the one before."""

    def __init__(self, files: Sequence[str] | None, config: Config | None = None) -> None:
        self.files = None if files is None else tuple(files)
        self._config = config
        self._stamp = None if config is None else stamp(config.inventories, self.files)

    @property
    def scope(self) -> tuple[str, ...]:
        """What answers typed at a secret prompt are kept for: the files read."""
        return self.current().origin

    def last(self) -> Config:
        """The config as last read, not read again: what a run admitted goes on with (its
        audit log, the files it may not replace) when a file is since saved with a mistake
        (config19: a fleet's targets not started yet failed with the other service's typo)."""
        return self._config if self._config is not None else self.current()

    def current(self) -> Config:
        """The config as its files say now (their stats are the only I/O when unchanged)."""
        read = self._config.inventories if self._config is not None else ()
        now = stamp(read, self.files)
        if self._config is None or now != self._stamp:  # fleets17: an edited inventory too
            self._config = load_config(*(self.files or ()))
            self._stamp = now if self._config.inventories == read else stamp(
                self._config.inventories, self.files)
        return self._config


def stamp(inventories: Iterable[str] = (), files: Sequence[str] | None = None) -> Stamp:
    """The stamp of `files` (None: what automatic finding reads now), with `inventories` (the
    config's, as last loaded) and their vars folders; empty when no config is found (reading
    says why)."""
    try:
        paths = list(files) if files is not None else [os.fspath(p) for p in find_config_files()]
    except ConfigError:
        return ()
    for inventory in inventories:
        paths.append(inventory)
        beside = folder_of(inventory)
        for kind in ("group_vars", "host_vars"):
            paths += _tree(os.fspath(beside / kind))
    return tuple(_stat(path) for path in paths)


def _tree(top: str) -> list[str]:
    """A vars folder and everything under it (a file added, removed or edited changes one of
    their stamps), or the folder's path alone when there is none (one made later counts)."""
    found = [top]
    for folder, dirs, files in os.walk(top):
        dirs.sort()
        found += [os.path.join(folder, name) for name in (*sorted(dirs), *sorted(files))]
    return found


def _stat(path: str) -> tuple[str, int, int]:
    try:
        st = os.stat(path)
    except OSError:
        return (path, 0, -1)
    return (path, st.st_mtime_ns, st.st_size)
