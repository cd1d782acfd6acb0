"""YAML inventories (`all:` → `children:` → `hosts:` / `vars:`), read as Ansible's yaml plugin
reads them: a group's sections in the file's order; mistakes named at file:line:column."""

from __future__ import annotations

import functools
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError
from .inventory_vars import Where, checked_vars, judged, misread
from .source import Path_, Source
from .suggest import did_you_mean

if TYPE_CHECKING:  # inventory.py imports this module when a file is YAML
    from .inventory import Inventory

#: What a group of a YAML inventory may hold.
_GROUP_KEYS = ("hosts", "vars", "children")


def from_yaml(inv: Inventory, src: Source) -> None:
    """A YAML inventory; its mistakes are named at their file:line:column, as an INI's are."""
    if not isinstance(src.data, dict):
        raise _yaml_error(src, (), "a YAML inventory must be a mapping of group names")
    for group, body in src.data.items():
        _yaml_group(inv, src, (group,), body)


def _yaml_group(inv: Inventory, src: Source, at: Path_, body: Any) -> None:
    group = str(at[-1])
    try:
        inv.group(group)
    except ValueError as exc:  # at the name's own line
        raise _yaml_error(src, at, str(exc), at_key=True) from None
    if body is None:
        return
    if not isinstance(body, dict):
        raise _yaml_error(src, at, f"group {group!r} must be a mapping of hosts, vars, children")
    for key in body:
        if key not in _GROUP_KEYS:
            raise _yaml_error(src, at + (key,), f"unknown key {key!r} in group {group!r}",
                              at_key=True, suggestion=did_you_mean(key, _GROUP_KEYS))
    for key in _GROUP_KEYS:
        if isinstance(body.get(key), str):  # as Ansible reads it: the one name it holds
            if not body[key].strip():
                raise _yaml_error(src, at + (key,), f"group {group!r}: {key} is an empty name")
            body[key] = {body[key]: None}
        if not isinstance(body.get(key), (dict, type(None))):  # `vars: 0` loaded as none
            raise _yaml_error(src, at + (key,), f"group {group!r}: {key} must be a mapping "
                                                f"(name: …), not a {type(body[key]).__name__}")
    for section in body:  # in the file's order, as Ansible reads them: of a host written twice
        values = body[section] or {}  # with the same variable, the later reading wins
        if section == "vars":
            for key, value in values.items():
                with _pointing(src, at + ("vars", key), group):
                    misread(key, value, src.written(at + ("vars", key)))
                    inv.set_vars(group, {key: value}, _lines(src, at + ("vars",), {key: value}))
        elif section == "children":
            for child, child_body in values.items():
                pos = src.position(at + ("children", child), at_key=True)
                where = f"{src.file}:{pos[0]}:{pos[1]}" if pos else src.file
                inv.add_child(group, str(child), where)
                _yaml_group(inv, src, at + ("children", child), child_body)
        else:
            for host, host_vars in values.items():
                _yaml_host(inv, src, at + ("hosts", host), group, host_vars)


def _yaml_host(inv: Inventory, src: Source, where: Path_, group: str, values: Any) -> None:
    host = str(where[-1])
    if not isinstance(values, (dict, type(None))):
        raise _yaml_error(src, where, f"group {group!r}: host {host!r} must map variables to "
                                      f"values")
    if not src.key_is_text(where):  # fleets16: `2.5:` reached 2.0.0.5, as Ansible refuses
        raise _yaml_error(src, where, f"group {group!r}: host {host!r} must be a string, and "
                                      f"YAML reads it as a number, true/false, null or date: "
                                      f"quote it (\"{host}\":)", at_key=True)
    for key, value in (values or {}).items():
        with _pointing(src, where + (key,), group, host=host):  # the host's own variable
            misread(key, value, src.written(where + (key,)))
            checked_vars({key: value})
    with _pointing(src, where, group, at_key=True):  # a bad range or port in its name
        inv.add_host(group, host, checked_vars(values or {}), _lines(src, where, values or {}),
                     functools.partial(_line, src, where))


@contextmanager
def _pointing(src: Source, at: Path_, group: str, *, at_key: bool = False,
              host: str | None = None) -> Iterator[None]:
    """A ValueError inside becomes a ConfigError at `at` (at a variable's name when the name
    is what is wrong), said of `host` when it is that host's variable, else of the group."""
    try:
        yield
    except ValueError as exc:
        name_wrong = at_key or not str(at[-1]).isidentifier()
        whose = f"group {group!r}, host {host!r}" if host is not None else f"group {group!r}"
        raise _yaml_error(src, at, f"{whose}: {exc}", at_key=name_wrong) from None


def _lines(src: Source, at: Path_, values: dict[str, Any]) -> dict[str, Where]:
    """Where each variable at `at` a host may be refused for was written, found only when an
    error says it: finding a line walks the file's nodes (every host's: quadratic, review19)."""
    return {key: functools.partial(_line, src, at + (key,)) for key, value in values.items()
            if judged(str(key), value)}


def _line(src: Source, at: Path_) -> str:
    pos = src.position(at)
    return f"{src.file}:{pos[0]}" if pos else src.file


def _yaml_error(src: Source, at: Path_, message: str, *, at_key: bool = False,
                suggestion: str | None = None) -> ConfigError:
    """`file:line:col: message`: the position is part of the message, as an INI line's is,
    since the error is shown inside the error of the config line naming the group."""
    pos = src.position(at, at_key=at_key)
    where = f"{src.file}:{pos[0]}:{pos[1]}" if pos else src.file
    return ConfigError(f"{where}: {message}", suggestion=suggestion)
