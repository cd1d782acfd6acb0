"""What an automatically found config was read from, stamped (path, change time, size), so a
long-lived Orchestrator (a notebook's) reads it again once any of it changed: the config files,
the inventories they name, and the group_vars/ and host_vars/ folders beside those."""

from __future__ import annotations

import os
from collections.abc import Iterable

from ..errors import ConfigError
from .files import find_config_files
from .inventory_vars import folder_of

#: (path, st_mtime_ns, st_size) of every file and folder read; (path, 0, -1) for one missing.
Stamp = tuple[tuple[str, int, int], ...]


def stamp(inventories: Iterable[str] = ()) -> Stamp:
    """The stamp of what automatic finding reads now, with `inventories` (the config's, as
    last loaded) and their vars folders; empty when no config is found (reading says why)."""
    try:
        paths = [os.fspath(p) for p in find_config_files()]
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
