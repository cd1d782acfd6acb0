"""Inventory variables: the check every inventory reader applies (`checked_vars`), and the
`group_vars/` and `host_vars/` beside an inventory file, found as Ansible's host_group_vars
plugin finds them.

For each group and host, in `DIR/group_vars` and `DIR/host_vars` (DIR: each inventory file's
folder), the first of `NAME`, `NAME.yml`, `NAME.yaml`, `NAME.json` there is read; a folder is
read whole, its entries in name order (sub-folders in their place; hidden ones and `~`
backups skipped). Its `ansible_*` variables are kept, as an inventory line's are: those an
ssh hop takes (`KEPT`), and those `not_misread` judges for the hosts an environment names (a
misspelt one, ssh arguments, `ansible_connection`). Of the ones a hop takes only plain values
count: a `!vault` value or a Jinja template (`{{ … }}`) needs Ansible to be read, so it is
left out, as is a file encrypted whole with ansible-vault.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, Union

import yaml

from ..errors import ConfigError
from .reading import read_text
from .suggest import edit_distance
from .validate import yaml_changed

#: The suffixes a vars file may have, in the order Ansible tries them.
SUFFIXES = ("", ".yml", ".yaml", ".json")
#: The variables an ssh hop takes (see inventory.HONOURED).
KEPT = ("ansible_host", "ansible_user", "ansible_port", "ansible_private_key_file",
        "ansible_ssh_host", "ansible_ssh_user", "ansible_ssh_port", "ansible_ssh_private_key_file")
PORTS = ("ansible_port", "ansible_ssh_port")
#: Variables of ssh arguments Ansible passes on (orch reads none), and a jump host in them.
JUMP_ARGS = ("ansible_ssh_common_args", "ansible_ssh_extra_args", "ansible_ssh_args")
_JUMP_OPTIONS = re.compile(r"ProxyJump|ProxyCommand", re.I)
#: ssh's one-letter options that take a value (its getopt string): in a cluster (`-AJ b`,
#: `-vJb`) the letters after one of them are its value, not options.
_SSH_VALUED = set("bcDeEFiIJlLmoOpPQRSwWB")
#: Per inventory folder (in the inventories' order): entity name → its variables.
Found = list[dict[str, dict[str, Any]]]
#: Where a variable was written, "file:line", or how to find it when an error needs it (a YAML
#: line is looked up in the file's nodes: done for every host, loading was quadratic).
Where = Union[str, Callable[[], str]]
#: Where each variable that may be refused (`judged`) was written: by (scope, group or host
#: name, variable); scopes: group, host, and group_vars/N, host_vars/N for the Nth
#: inventory's folder.
Origins = dict[tuple[str, str, str], Where]


class _Tagged:
    """A value under an Ansible tag (`!vault`): not plain data orch can use."""


class Verbatim(str):
    """An `!unsafe` value: text Ansible uses as it is, never as a template."""


class _VarsLoader(yaml.SafeLoader):
    """YAML as Ansible writes vars files: any `!tag` loads (as `_Tagged`), not an error."""


_VarsLoader.add_multi_constructor("!", lambda loader, suffix, node: _Tagged())
_VarsLoader.add_constructor("!unsafe", lambda loader, node: Verbatim(loader.construct_scalar(
    node)))  # type: ignore[arg-type]
#: The tags of Ansible's own YAML, as a YAML inventory may hold them (`parse_source`'s tags).
ANSIBLE_TAGS: dict[str, Callable[[yaml.ScalarNode], Any]] = {
    "!vault": lambda node: _Tagged(), "!vault-encrypted": lambda node: _Tagged(),
    "!unsafe": lambda node: Verbatim(node.value)}


def read_vars(folders: Iterable[Path], kind: str, names: Iterable[str],
              origins: Origins, judge: bool = False) -> Found:
    """For each folder, the `ansible_*` variables of each of `names` from `FOLDER/KIND/…` (`kind`:
    group_vars or host_vars); later folders win, as Ansible combines its sources. Where the
    `judged` ones were written goes into `origins`; `judge`: each file refused as the config
    found where orch runs that reads it would be (`reading.read_text`)."""
    names = list(names)
    found: Found = []
    for i, folder in enumerate(folders):
        base = folder / kind
        per_name: dict[str, dict[str, Any]] = {}
        if base.is_dir():
            for name in names:
                if name.startswith("/"):  # a "chroot" host's path, which Ansible skips too
                    continue
                for file in _files(base, name):
                    values, lines = _read(file, judge)
                    per_name.setdefault(name, {}).update(values)
                    origins.update(((f"{kind}/{i}", name, key), f"{file}:{line}")
                                   for key, line in lines.items())
        found.append(per_name)
    return found


def _files(base: Path, name: str) -> list[Path]:
    """What Ansible's find_vars_files finds for `name`: the first suffix that exists."""
    for suffix in SUFFIXES:
        path = base / (name + suffix)
        if path.is_dir():
            return _folder(path)
        if path.exists():
            return [path] if path.is_file() else []
    return []


def _folder(path: Path) -> list[Path]:
    found: list[Path] = []
    for entry in sorted(os.listdir(path)):
        if entry.startswith(".") or entry.endswith("~"):
            continue
        full, suffix = path / entry, os.path.splitext(entry)[1]
        if full.is_dir() and not suffix:
            found += _folder(full)
        elif full.is_file() and suffix in SUFFIXES:
            found.append(full)
    return found


def _read(file: Path, found: bool) -> tuple[dict[str, Any], dict[str, int]]:
    """The `ansible_*` variables of one vars file, checked (a bad port names its line): those
    orch honours, and those `not_misread` judges for the hosts an environment names (fleets8:
    a misspelt user, a jump host or `ansible_connection: local` there were dropped unsaid);
    and the lines of the `judged` ones."""
    text = read_text(file, "inventory vars file", found=found)
    if text.lstrip().startswith("$ANSIBLE_VAULT"):
        return {}, {}
    loader = _VarsLoader(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{file}{line}: not YAML: {getattr(exc, 'problem', exc)}") from None
    finally:
        loader.dispose()
    if data is None:
        return {}, {}
    if not isinstance(data, dict):
        raise ConfigError(f"{file}: a vars file must map variable names to values")
    _once_each(file, node)
    kept: dict[str, Any] = {}
    for key, value in data.items():
        if not (isinstance(key, str) and key.startswith("ansible_")) or value is None:
            continue
        try:
            misread(key, value, _plain(node, key))
            kept.update(checked_vars({key: value}))
        except ValueError as exc:
            raise ConfigError(f"{file}:{_line(node, key)}: {exc}") from None
    return kept, {key: _line(node, key) for key, value in kept.items() if judged(key, value)}


def for_ansible(value: Any) -> bool:
    """A value only Ansible can read: vault-encrypted, or a Jinja template (not `!unsafe`)."""
    return isinstance(value, _Tagged) or isinstance(value, str) and not isinstance(
        value, Verbatim) and ("{{" in value or "{%" in value)


def _plain(node: yaml.Node, key: str) -> str | None:
    """The text of `key`'s value in a mapping node when it is a plain (unquoted) scalar."""
    for key_node, value_node in getattr(node, "value", []):
        if getattr(key_node, "value", None) == key:
            plain = isinstance(value_node, yaml.ScalarNode) and not value_node.style
            return str(value_node.value) if plain else None
    return None


def _once_each(file: Path, node: yaml.Node) -> None:
    """Refuse a variable orch reads (`ansible_…`) written twice (config17: the last was taken,
    and the YAML 1.1 check read the first: `ansible_port: 0022` after a quoted one). Others
    are Ansible's, which takes the last with a warning (review33: `app_version` written twice
    refused the whole config)."""
    first: dict[str, int] = {}
    for key_node, _ in getattr(node, "value", []):
        key, line = getattr(key_node, "value", None), int(key_node.start_mark.line) + 1
        if isinstance(key, str) and key.startswith("ansible_") and key in first:
            raise ConfigError(f"{file}:{line}: duplicate key {key!r} (first at line "
                              f"{first[key]}): write it once")
        first.setdefault(str(key), line)


def _line(node: yaml.Node, key: str) -> int:
    """The line of `key` in a mapping node."""
    for key_node, value_node in getattr(node, "value", []):
        if getattr(key_node, "value", None) == key:
            return int(value_node.start_mark.line) + 1
    return 1


def folder_of(inventory: str | Path) -> Path:
    """The folder whose group_vars/ and host_vars/ an inventory file has: the one it is named
    in, a symlink not followed, as Ansible reads it (fleets18: a hosts file linked into
    prod/ and staging/ took the vars of the folder it was linked from)."""
    return Path(os.path.normpath(os.path.abspath(inventory))).parent


def read_beside(paths: Iterable[str | Path], groups: Iterable[str], hosts: Iterable[str],
                origins: Origins, found: bool = False) -> tuple[Found, Found]:
    """The group_vars/ and host_vars/ of these groups and hosts beside the inventory files."""
    folders = [folder_of(path) for path in paths]
    return (read_vars(folders, "group_vars", dict.fromkeys(groups), origins, found),
            read_vars(folders, "host_vars", hosts, origins, found))


def judged(key: str, value: Any) -> bool:
    """Whether a host may be refused for this variable, so where it was written is kept
    (`not_misread`, `Inventory.connection`, `Inventory.written`): one orch does not take, an
    address only Ansible can read, an ssh setting that is no name (fleets11: `ansible_user`
    with a space was said without its line)."""
    return key.startswith("ansible_")


def at(where: Mapping[str, Where], key: str) -> str:
    """`file:line: ` where `key` was written, as an error about it starts (or nothing)."""
    found = where.get(key)
    said = found() if callable(found) else found
    return f"{said}: " if said else ""


def not_misread(values: Mapping[str, Any], where: Mapping[str, Where]) -> None:
    """Refuse the variables of a host to be reached that would reach it other than as written
    (config2 tester): a misspelt connection variable (`ansible_usr`: the run went on as the
    layer's user), and a jump host set in ssh arguments orch does not read (the run went
    straight to the host). Checked for the hosts an environment names only: a shared
    inventory's other groups may go through a bastion. `where`: each variable's file:line."""
    for key, value in values.items():
        if key.startswith("ansible_") and key not in KEPT:
            near = min(KEPT, key=lambda known: edit_distance(key, known, 3))
            if edit_distance(key, near, 3) <= 2:
                raise ValueError(f"{at(where, key)}its inventory variable {key!r} is unknown "
                                 f"(did you mean {near!r}?)")
        if key in JUMP_ARGS and for_ansible(value):
            raise ValueError(f"{at(where, key)}its inventory's {key} is {shown(value)}, "
                             f"which only Ansible "
                             f"can read: orch cannot tell whether it sets a jump host (write "
                             f"it out, or a jump host as the layer before this one)")
        if key in JUMP_ARGS and isinstance(value, str) and sets_jump(value):
            raise ValueError(f"{at(where, key)}its inventory's {key} sets a jump host (or an "
                             f"ssh_config, -F, that may), which orch does not read: write the "
                             f"jump host as the layer before this one (ssh BASTION, then these "
                             f"hosts), and an ssh_config as the layer's ssh_config")
        if key in JUMP_ARGS and isinstance(value, str) and _sets(value):
            raise ValueError(f"{at(where, key)}its inventory's {key} ({value!r}) sets "
                             f"{_sets(value)[0]}, which orch does not read from ssh arguments")


def sets_jump(args: str) -> bool:
    """Whether ssh arguments may name a jump host as OpenSSH reads them: `-o ProxyJump=…` or
    `ProxyCommand`, `-J` alone or in a cluster of one-letter options (`-AJ b`, `-4Jb`), or
    `-F FILE`, an ssh_config orch does not read (it may set one)."""
    return _JUMP_OPTIONS.search(args) is not None or _JUMP in _sets(args)


#: What a setting in ssh's arguments changes, and the inventory variable that says it.
_JUMP = "a jump host"
_SETS_OPTION = {"hostname": "the address (write it as ansible_host)",
                "user": "the login user (write it as ansible_user)",
                "port": "the port (write it as ansible_port)",
                "proxyjump": _JUMP, "proxycommand": _JUMP}
_SETS_LETTER = {"J": _JUMP, "F": _JUMP, "l": _SETS_OPTION["user"], "p": _SETS_OPTION["port"]}


def _sets(args: str) -> list[str]:
    """What ssh arguments set, as OpenSSH reads them, of what orch takes from the inventory's
    own variables (fleets16: `-o HostName=`, `-l USER`, `-p` reached another host, or as
    another user, without a word): one-letter options alone or in a cluster (`-AJ b`,
    `-4Jb`, `-luser`), `-o KEY=VALUE` / `-o 'KEY VALUE'` / `-oKEY=VALUE`."""
    import shlex

    try:
        words = shlex.split(args)
    except ValueError:  # an unclosed quote: as a shell splitting on blanks would
        words = args.split()
    found: list[str] = []
    valued: str | None = None  # the option whose value the next word is
    for word in words:
        if valued is not None:
            found += _option_sets(word) if valued == "o" else []
            valued = None
            continue
        if not word.startswith("-") or word.startswith("--") or word == "-":
            continue
        for i, letter in enumerate(word[1:], 1):
            if letter in _SETS_LETTER:
                found.append(_SETS_LETTER[letter])
            if letter in _SSH_VALUED:
                rest = word[i + 1:]
                if not rest:
                    valued = letter  # `-p 22`: the next word is its value
                elif letter == "o":
                    found += _option_sets(rest)
                break
    return found


def _option_sets(option: str) -> list[str]:
    """What one `-o` option sets of those (`HostName=h`, `User x`, case as ssh ignores it)."""
    key = re.split(r"[\s=]", option.strip(), maxsplit=1)[0].lower()
    return [_SETS_OPTION[key]] if key in _SETS_OPTION else []


def shown(value: Any) -> str:
    """How an error names a value only Ansible can read."""
    return "vault-encrypted" if not isinstance(value, str) else f"a template ({value!r})"


def checked_vars(values: Mapping[str, Any]) -> dict[str, Any]:
    """Variables checked where they are written (so an error names the inventory's line).
    A connection variable only Ansible can read (`!vault`, a Jinja template) is kept as it
    is, so it hides what a group above set, as in Ansible: where it applies to a host an
    environment names, it is refused (fleets21: left out, the run logged in as orch's own
    user, root, where Ansible logs in as the inventory's)."""
    for key in values:
        if not (isinstance(key, str) and key.isidentifier()):
            raise ValueError(f"{key!r} is not a variable name")
    checked = dict(values)
    for key in KEPT:
        if key not in PORTS and isinstance(checked.get(key), (list, dict)):  # not "['a']"
            raise ValueError(f"{key} must be one value, not a "
                             f"{type(checked[key]).__name__} ({checked[key]!r})")
    for key in PORTS:  # refused for a host an environment names (`port_checked`): as
        port = checked.get(key)  # ansible-inventory, an odd host elsewhere stops nothing
        if isinstance(port, str) and port.strip().isascii() and port.strip().isdigit():
            checked[key] = int(port)  # `ansible_port: "2222"` in YAML; not "²" (fleets16)
    return checked


def misread(key: Any, value: Any, written: str | None) -> None:
    """A connection variable YAML 1.1 changed from the text written (`ansible_user: no` is
    false, `0700` 448, `ansible_port: 0022` 18): refused, as orch's own config refuses it,
    not used (config14: the login went as `False`, port 18 was dialled). `written`: the
    plain scalar's text, None for a quoted or no scalar."""
    if key not in KEPT or written is None or not isinstance(value, (bool, int, float)):
        return
    text = ("true" if value else "false") if isinstance(value, bool) else str(value)
    if isinstance(value, bool) or written != text:
        raise ValueError(f"{key}: {yaml_changed(value, written)}")


def port_checked(port: Any, key: str = "ansible_port") -> int:
    """An inventory host's port (set by `key`), which it is reached at: 1 to 65535."""
    if not (type(port) is int and 1 <= port <= 65535):
        raise ValueError(f"{key} must be a port number (1-65535), not {port!r}")
    return port
