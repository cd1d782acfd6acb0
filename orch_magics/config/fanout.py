"""Layers that name several targets: `host: [a, b]`, `host: "web-[01:12]"`, `host: "group:web"`,
`container: [app-1, app-2]`, and a docker or podman `label:` (every running container with it,
found at run time). The loader calls `split` before validating a layer's config.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError
from ..layers.names import check_login_name, check_no_slash, check_target_name
from ..layers.registry import get_kind
from . import patterns
from .inventory_files import NoInventory
from .inventory_vars import port_checked
from .model import FanOut, LayerSpec, Member
from .source import Path_, Source, describe_path

if TYPE_CHECKING:  # read when a config names an inventory (inventory_files._lazy_inventory)
    from .inventory import Inventory

GROUP_PREFIX = "group:"


def fanout_key(type_: str) -> str | None:
    """The config key of kind `type_` that may name several targets (`fans_out`), if any."""
    kind = get_kind(type_)
    return getattr(kind, "target", None) if getattr(kind, "fans_out", False) else None


def selector_key(type_: str) -> str | None:
    """The config key of kind `type_` that selects targets at run time (`label`), if any."""
    return getattr(get_kind(type_), "selector", None)


def chosen(type_: str, config: Any, name: str) -> Any:
    """The config of the target `name` a selector found: the kind's `target`, selected no
    more (`container: app-1`, not `label: app=web`)."""
    kind = get_kind(type_)
    return dataclasses.replace(config, **{kind.target: name,  # type: ignore[attr-defined]
                                          kind.selector: None})  # type: ignore[attr-defined]


def split(type_: str, raw: Any, path: Path_, src: Source,
          inventory: Callable[[], Inventory]) -> tuple[Any, FanOut | None]:
    """(the config to validate, the layer's fan-out or None) for the raw config of a layer.

    The config to validate is the layer's own with the first target's name, so the kind checks
    it as usual; what else a target sets (an inventory's user, port) is its own alone: one
    host's `ansible_user` once became the login of every host listed after it.
    """
    if not isinstance(raw, dict):
        return raw, None
    selector = selector_key(type_)
    key = fanout_key(type_)
    if selector is not None and isinstance(raw.get(selector), str) and not (
            key and isinstance(raw.get(key), list)):  # both: the kind's check says so
        return raw, FanOut(selector, f"{selector} {raw[selector]}", selector=raw[selector])
    value = raw.get(key) if key else None
    where = path + (key,)
    if key == "host" and isinstance(value, str) and not _names_several(value):
        try:  # an inventory's host, reached as the inventory says (fleets19)
            one = _written_host(value, raw, inventory)
        except ValueError as exc:
            raise src.error(where, f"{key} {value!r}: {exc}") from None
        return ({**raw, **one.changes} if one is not None else raw), None
    if key is None or not _names_several(value):
        return raw, None
    if value == []:
        raise src.error(where, f"{describe_path(where)} is an empty list: name at least "
                               f"one {key}")
    items = value if isinstance(value, list) else [value]
    _check_written_count(items, where, src)
    members: list[Member] = []
    origin: dict[str, str] = {}  # each label: the item that brought it
    for i, item in enumerate(items):
        at = where + (i,) if isinstance(value, list) else where
        if not isinstance(item, str) or not item.strip():
            raise src.error(at, f"{describe_path(at)} must be a host or container name")
        try:
            found = _members(key, item, raw, inventory)
            group = item.startswith(GROUP_PREFIX)
            for member in found:  # groups are a union (Ansible's web:db); a name is written once
                came = origin.get(member.label)
                if came is not None and not (group and came.startswith(GROUP_PREFIX)):
                    raise ValueError(_twice(member.label, came, item))
            taken = set(origin)
            found = [m for m in found if m.label not in taken]
            origin.update((m.label, item) for m in found)
            members += found
        except (ValueError, ConfigError) as exc:
            raise src.error(at, f"{key} {item!r}: {exc}") from None
    if len(members) > patterns.MAX_NAMES:
        raise src.error(where, f"{describe_path(where)} names {len(members):,} targets "
                               f"(at most {patterns.MAX_NAMES:,})")
    _check_unique(members, where, src)
    written = ", ".join(map(str, items))
    first = {**raw, key: members[0].changes[key]}
    return first, FanOut(key, f"[{written}]" if isinstance(value, list) else written,
                         tuple(members))


def _check_written_count(items: list[Any], where: Path_, src: Source) -> None:
    """A list of ranges standing for more than MAX_NAMES names is refused before any name is
    made (fleets17: twenty ranges of 99,999 took 33 s and 1 GB to be refused); an item that is
    no range, or a wrong one, is left for the loop to say at its own line."""
    written = 0
    for item in items:
        if isinstance(item, str) and not item.startswith(GROUP_PREFIX):
            with contextlib.suppress(ValueError):
                written += patterns.count(item)
    if written > patterns.MAX_NAMES:
        raise src.error(where, f"{describe_path(where)} names {written:,} targets "
                               f"(at most {patterns.MAX_NAMES:,})")


def _names_several(value: Any) -> bool:
    return isinstance(value, list) or isinstance(value, str) and (
        patterns.is_pattern(value) or value.startswith(GROUP_PREFIX))


def _members(key: str, item: str, raw: dict[str, Any],
             inventory: Callable[[], Inventory]) -> list[Member]:
    if item.startswith(GROUP_PREFIX):
        if key != "host":
            raise ValueError("inventory groups name hosts: use them in an ssh layer's host")
        inv = inventory()
        hosts = inv.hosts_of(item.removeprefix(GROUP_PREFIX))
        if not hosts:
            raise ValueError("the group has no hosts")
        return [_inventory_member(inv, h, raw) for h in hosts]
    head, _, port = item.rpartition(":")
    if key == "host" and port.isdigit() and patterns.is_pattern(head) \
            and head.rfind("]") > head.rfind("["):  # `web-[1:3]:22`, not an unclosed `web-[01:12`
        raise ValueError(f"it has ':': a host or container name has none (an ssh port is its "
                         f"own setting: host: {head}, port: {port})")
    names = patterns.expand(item)
    check_target_name(names[0], key=key)  # a pattern's every name keeps its first's faults
    if key != "host":
        return [Member(name, {key: name}) for name in names]
    return [_written_host(name, raw, inventory) or Member(name, {key: name}) for name in names]


def _written_host(name: str, raw: dict[str, Any], inventory: Callable[[], Inventory]
                  ) -> Member | None:
    """A host written by name that the config's inventory lists: that inventory host (its
    `ansible_host`, user and port, its groups), as Ansible takes a host pattern (fleets19: the
    bare name was reached, maybe another machine); None when the inventory has no such host
    or none is named. A group's name written without `group:` is refused."""
    try:
        inv = inventory()  # one it cannot read is said (review31: it was passed over)
    except NoInventory:
        return None
    if name in inv.host_vars:
        return _inventory_member(inv, name, raw)
    if name in inv.groups or name in ("all", "ungrouped"):
        raise ValueError(f"{name!r} is a group of the inventory: write {GROUP_PREFIX}{name}")
    return None


def _inventory_member(inv: Inventory, host: str, raw: dict[str, Any]) -> Member:
    """An inventory host, its address checked as a written one is (each host's own: only the
    first one's reached the layer's checks)."""
    try:
        check_no_slash(host)  # its label (its address is checked below)
    except ValueError as exc:  # fleets16: said at the inventory's line too
        raise ValueError(f"{inv.listed(host)}inventory host {host!r}: {exc}") from None
    try:  # the address always comes from there; the rest unless the layer sets it
        inv.only_ansible_reads(host, ["host", *(k for k in ("user", "port", "identity_file")
                                                if k not in raw)])
        connection = inv.connection(host)
    except ValueError as exc:
        raise ValueError(f"inventory host {host!r}: {exc}") from None
    address = connection.get("host", host)
    try:
        check_target_name(address)
    except ValueError as exc:
        shown = repr(host) if address == host else f"{host!r} ({address!r})"
        where = inv.listed(host) if address == host else inv.written(host, "host")[0]
        raise ValueError(f"{where}inventory host {shown}: {exc}") from None
    if "port" in connection and "port" not in raw:  # a port written in the layer wins
        where, key = inv.written(host, "port")
        try:
            port_checked(connection["port"], key)
        except ValueError as exc:
            raise ValueError(f"{where}inventory host {host!r}: {exc}") from None
    if "user" in connection and "user" not in raw:  # a user written in the layer wins
        where, key = inv.written(host, "user")
        try:
            check_login_name(connection["user"])
        except ValueError as exc:
            raise ValueError(f"{where}inventory host {host!r}, {key} "
                             f"{connection['user']!r}: {exc}") from None
    return Member(host, {**{k: v for k, v in connection.items() if k not in raw},
                         "host": address}, ("all", *inv.groups_of(host)))


def _twice(label: str, first: str, then: str) -> str:
    """Why a target may not come twice: a name written out and the same host in a group
    would be two targets with their own settings (fleets9: the message named neither)."""
    def said(item: str) -> str:
        return item if item.startswith(GROUP_PREFIX) else repr(item)
    where = "" if first == then else f" (by {said(first)} and by {said(then)})"
    return f"{label!r} is named twice{where}: each target once"


def _check_unique(members: list[Member], where: Path_, src: Source) -> None:
    seen: set[str] = set()
    for member in members:
        if member.label in seen:
            raise src.error(where, f"{member.label!r} is named twice: each target once")
        seen.add(member.label)


def check_count(name: str, layers: Sequence[LayerSpec], path: Path_, src: Source) -> None:
    """Refuse an environment whose fan-outs multiply past what one run may hold (layers of a
    thousand bastions and a thousand hosts each are a million targets)."""
    total = math.prod(len(spec.fanout.members) or 1  # a label's containers: found at run time
                      for spec in layers if spec.fanout is not None)
    if total > patterns.MAX_NAMES:
        raise src.error(path, f"environment {name!r} fans out to {total:,} targets "
                              f"(at most {patterns.MAX_NAMES:,})")
