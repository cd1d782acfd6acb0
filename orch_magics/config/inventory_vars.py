"""`group_vars/` and `host_vars/` beside an inventory file, as Ansible's host_group_vars plugin
reads them.

For each group and host of the inventories, `DIR/group_vars/NAME` and `DIR/host_vars/NAME`
(DIR: the folder of each inventory file) are read: a file `NAME`, `NAME.yml`, `NAME.yaml` or
`NAME.json`, or a folder `NAME/` whose files (with those suffixes, or none) are read in name
order, sub-folders included. Only the connection variables an ssh hop takes are kept; a file
encrypted with ansible-vault is skipped (it holds secrets, not where a host is).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from .source import parse_source, read_text

#: How the inventory checks variables (a port a number, …): raises ValueError.
Check = Callable[[Mapping[str, Any]], dict[str, Any]]

SUFFIXES = ("", ".yml", ".yaml", ".json")
#: The variables kept (see inventory.HONOURED; `ansible_group_priority` is read from the
#: inventory itself only).
KEPT = ("ansible_host", "ansible_user", "ansible_port", "ansible_ssh_host", "ansible_ssh_user",
        "ansible_ssh_port")


def read_vars(folders: Iterable[Path], kind: str, names: Iterable[str],
              check: Check) -> dict[str, dict[str, Any]]:
    """Connection variables of each of `names` from `FOLDER/KIND/NAME…` (`kind`: group_vars or
    host_vars), the folders' in their order, the later winning."""
    found: dict[str, dict[str, Any]] = {}
    bases = [folder / kind for folder in dict.fromkeys(folders) if (folder / kind).is_dir()]
    if not bases:
        return found
    for name in names:
        for base in bases:
            for file in _files(base, name):
                values = _read(file, check)
                if values:
                    found.setdefault(name, {}).update(values)
    return found


def _files(base: Path, name: str) -> Iterator[Path]:
    """What Ansible's find_vars_files finds for `name` in `base`."""
    path = base / name
    if path.is_dir():
        for root, dirs, files in os.walk(path):
            dirs.sort()
            for file in sorted(files):
                if os.path.splitext(file)[1] in SUFFIXES and not file.startswith("."):
                    yield Path(root) / file
        return
    for suffix in SUFFIXES:
        candidate = base / (name + suffix)
        if candidate.is_file():
            yield candidate


def _read(file: Path, check: Check) -> dict[str, Any]:
    """The kept variables of one vars file (an empty or vault-encrypted one has none)."""
    text = read_text(file, "inventory vars file")
    if text.lstrip().startswith("$ANSIBLE_VAULT"):
        return {}
    src = parse_source(text, str(file))
    if src.data is None:
        return {}
    if not isinstance(src.data, dict):
        raise src.error((), "a vars file must map variable names to values")
    kept: dict[str, Any] = {}
    for key in KEPT:
        if key in src.data:
            try:
                kept.update(check({key: src.data[key]}))
            except ValueError as exc:
                raise src.error((key,), str(exc)) from None
    return kept


def folders_of(paths: Iterable[str | Path]) -> list[Path]:
    """The folders the inventory files are in (group_vars/ and host_vars/ sit beside them)."""
    return [Path(path).resolve().parent for path in paths]

