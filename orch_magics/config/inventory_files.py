"""Which inventory each config file's `group:` hosts are read from, read on first use."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import ConfigError
from .checks import file_path
from .source import Source

if TYPE_CHECKING:
    from .inventory import Inventory


def inventory_paths(src: Source, base: Path) -> list[str]:
    """The `inventory:` files of one source (a path or a list), relative to its directory."""
    if not isinstance(src.data, dict) or "inventory" not in src.data:
        return []
    raw = src.data["inventory"]
    items = raw if isinstance(raw, list) else [raw]  # `[]`: none, as the schema has it
    if not all(isinstance(p, str) and p.strip() for p in items):
        raise src.error(("inventory",), "inventory must be a file path or a list of them")
    for i, item in enumerate(items):
        try:
            file_path(item)
        except ValueError as exc:
            raise src.error(("inventory", i) if isinstance(raw, list) else ("inventory",),
                            f"inventory: {exc}") from None
    paths = [base / os.path.expanduser(p) for p in items]
    for i, path in enumerate(paths):
        if not path.is_file():
            at = ("inventory", i) if isinstance(raw, list) else ("inventory",)
            what = "is a directory" if path.is_dir() else \
                "is not a regular file" if path.exists() else "not found"
            raise src.error(at, f"inventory file {str(path)!r} {what}")
    return [str(p) for p in paths]


def inventory_readers(files: list[str], own_paths: list[list[str]], found: bool = False
                      ) -> list[Callable[[], Inventory]]:
    """What each file's `group:` hosts are read from: its own `inventory:`; a file without one
    takes the one file that has one. Never another file's groups beside its own (api4: a
    second `-c` file widened `group:web` of the first to the second's web hosts). `found`:
    of a config found where orch runs, judged as it is (`reading.read_text`)."""
    readers = [_lazy_inventory(tuple(paths), found) if paths else None for paths in own_paths]
    having = [(f, r) for f, r in zip(files, readers, strict=True) if r is not None]
    if len(having) == 1:
        shared = having[0][1]
    elif not having:
        shared = _lazy_inventory((), found)
    else:
        shared = _refusing(", ".join(f for f, _ in having))
    return [reader or shared for reader in readers]


class NoInventory(ConfigError):
    """The config names no inventory for this file (none, or several files each name one)."""


def _refusing(files: str) -> Callable[[], Inventory]:
    def get() -> Inventory:
        raise NoInventory(f"this file has no `inventory:`, and several config files have one "
                          f"({files}): add `inventory:` to this file to say which it reads")
    return get


def _lazy_inventory(paths: tuple[str, ...], found: bool) -> Callable[[], Inventory]:
    """The inventory, read on first use (a config without `group:` hosts never reads it)."""
    loaded: list[Inventory] = []

    def get() -> Inventory:
        if not paths:
            raise NoInventory("no inventory is loaded: add `inventory: [FILE]` at the top of "
                              "a config file")
        if not loaded:
            from .inventory import load_inventories  # its parsers: only for `group:` hosts

            loaded.append(load_inventories(paths, found=found))
        return loaded[0]
    return get
