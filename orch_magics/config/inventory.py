"""Ansible inventories (INI and YAML): hosts, groups, children and the variables we honour.

Only what reaching a host needs is kept: `ansible_host`, `ansible_user`, `ansible_port`,
`ansible_private_key_file` and their older `ansible_ssh_*` names, which win as in Ansible's ssh
plugin (host variables win over a child group's, which win over its parents', which win over
`all`'s). A written ssh layer setting wins over all of them. A host written
`name:port` (`[v6addr]:port`) gets that `ansible_port`. Groups are flattened: a group's hosts
include its children's, as `ansible-inventory` shows; `all` and `ungrouped` always exist.
A host's groups are merged in Ansible's order: by depth, then `ansible_group_priority`, then name.
"""

from __future__ import annotations

import os
import re
import shlex
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..errors import ConfigError
from ..layers.names import check_label_part
from ..text import some_of
from . import patterns
from .inventory_ini import from_ini
from .inventory_vars import (
    ANSIBLE_TAGS,
    Found,
    Origins,
    Where,
    at,
    checked_vars,
    for_ansible,
    judged,
    not_misread,
    read_beside,
    shown,
)
from .reading import read_text
from .source import parse_file_text
from .suggest import did_you_mean

#: The variables a target's ssh hop takes from an inventory, by the ssh config key they set;
#: of two setting one key, the later wins (Ansible's ssh plugin reads `ansible_ssh_*` last).
HONOURED = {"ansible_host": "host", "ansible_user": "user", "ansible_port": "port",
            "ansible_private_key_file": "identity_file",
            "ansible_ssh_host": "host", "ansible_ssh_user": "user", "ansible_ssh_port": "port",
            "ansible_ssh_private_key_file": "identity_file"}
#: `ansible_connection` values (their last dotted part: `ansible.builtin.ssh`) that mean ssh,
#: the only way an inventory host is reached: any other (local, docker, winrm) is refused.
SSH_CONNECTIONS = frozenset({"ssh", "smart", "paramiko", "paramiko_ssh"})
#: `host:port` and `[v6addr]:port` (a colon inside a range's brackets is the range's).
_HOST_PORT = re.compile(r"\[(?P<v6>[^\]]+)\]:(?P<v6port>\d+)|"
                        r"(?P<host>[^:\[\]]*(?:\[[^\]]*\][^:\[\]]*)*):(?P<port>\d+)")
#: Groups every inventory has: every host, and the hosts of no other group.
IMPLICIT = ("all", "ungrouped")
#: The first line that is neither blank nor a comment, and how a YAML mapping's one starts.
_FIRST_CONTENT = re.compile(r"^[ \t]*[^\s#;].*$", re.M)
_YAML_START = re.compile(r"\s*(---|%|\{|[^\s\[][^:]*:(\s|$)|[\"'])")


@dataclass
class _Group:
    hosts: dict[str, None] = field(default_factory=dict)  # in order, each once
    children: list[str] = field(default_factory=list)
    vars: dict[str, Any] = field(default_factory=dict)
    priority: int = 1  # `ansible_group_priority`: of two groups as deep, the higher wins


@dataclass
class Inventory:
    """Groups (flattened to host names, in order) and each host's connection variables.

    Built once, then read for every host: who is in which group, and each group's depth, are
    worked out once (a group of thousands of hosts took minutes when each host looked again).
    """

    groups: dict[str, _Group] = field(default_factory=dict)
    host_vars: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: Read from group_vars/ and host_vars/ beside the files, per folder (inventory_vars.py):
    #: of the same variable, a group's file wins over every group's inventory vars, a host's
    #: over its inventory vars, and a later folder over an earlier one, as in Ansible.
    group_files: Found = field(default_factory=list)
    host_files: Found = field(default_factory=list)
    #: Where each variable a host may be refused for was written (file:line), so the error
    #: names that line, not only the host (fleets9: a group_vars typo was blamed on a host).
    origins: Origins = field(default_factory=dict)
    #: Where each host was first listed (file:line), for an error about its name or port.
    hosts_at: dict[str, Where] = field(default_factory=dict)
    _in: dict[str, list[str]] | None = field(default=None, init=False, repr=False,
                                             compare=False)
    _depths: dict[str, int] = field(default_factory=dict, init=False, repr=False,
                                    compare=False)
    _connections: dict[str, dict[str, Any]] = field(default_factory=dict, init=False,
                                                    repr=False, compare=False)
    #: Where each host's ssh settings that apply were written (`written`).
    _settings_at: dict[str, dict[str, tuple[str, Where]]] = field(default_factory=dict, init=False,
                                                  repr=False, compare=False)

    def group(self, name: str) -> _Group:
        """The group `name` (made if new), about to change: what was worked out is redone."""
        self._in, self._depths, self._connections, self._settings_at = None, {}, {}, {}
        if name not in self.groups:
            check_label_part("group", name)
        return self.groups.setdefault(name, _Group())

    def set_vars(self, group: str, values: Mapping[str, Any], where: Mapping[str, Where]) -> None:
        """Variables of `group` (checked), each written at `where[name]` (file:line);
        `ansible_group_priority` is its priority, as in Ansible, not a variable."""
        checked = checked_vars(values)
        target = self.group(group)
        if "ansible_group_priority" in checked:
            target.priority = _priority(checked.pop("ansible_group_priority"))
        target.vars.update(checked)
        self._written("group", group, checked, where)

    def _written(self, scope: str, name: str, values: Mapping[str, Any],
                 where: Mapping[str, Where]) -> None:
        self.origins.update(((scope, name, key), where.get(key, ""))
                            for key, value in values.items() if judged(key, value))

    def add_host(self, group: str, name: str, values: Mapping[str, Any],
                 where: Mapping[str, Where], listed: Where = "") -> None:
        """Hosts of a pattern (`web[1:3]`, `db:2222`), listed at `listed` (file:line), join
        `group` with their variables. A pattern's port is the host's only where it is first
        listed, as Ansible's add_host has it (a later `db:2223` joins the group, its port
        ignored); `ansible_port=` always sets. `db:0` sets none, as Ansible reads it."""
        name, port = _port_of(name)
        hosts = self.group(group).hosts
        for host in patterns.expand(name):
            check_label_part("host", host)
            hosts[host] = None
            first = host not in self.host_vars
            held = self.host_vars.setdefault(host, {})
            self.hosts_at.setdefault(host, listed)
            if port and first:  # fleets16: a bad `h1:99999` is said at its line
                held.update(checked_vars({"ansible_port": port}))
                self._written("host", host, {"ansible_port": port}, {"ansible_port": listed})
            held.update(values)
            self._written("host", host, values, where)
        if len(self.host_vars) > patterns.MAX_NAMES:  # 20 lines of ranges took 1.6 GB: config7
            raise ValueError(f"the inventory names more than {patterns.MAX_NAMES:,} hosts")

    def add_child(self, parent: str, child: str, where: str) -> None:
        """`child` joins `parent`'s children, written at `where` (file:line); a loop is
        refused there, as ansible-inventory refuses it."""
        self.group(child)
        if child == parent or parent in self._closure(child):
            raise ConfigError(f"{where}: adding group {child!r} as a child of {parent!r} makes "
                              f"a loop of children")
        self.group(parent).children.append(child)

    def hosts_of(self, name: str) -> list[str]:
        """Every host of group `name`, its children's included (ConfigError when unknown)."""
        if name == "all":
            return list(self.host_vars)
        if name == "ungrouped":
            return [h for h in self.host_vars if self.groups_of(h) == ["ungrouped"]]
        if name not in self.groups:
            known = sorted({*IMPLICIT, *self.groups})
            raise ConfigError(f"unknown inventory group {name!r}; known: {some_of(known)}",
                              suggestion=did_you_mean(name, known))
        return self._members(name)

    def _members(self, name: str) -> list[str]:
        found: dict[str, None] = {}
        for group in self._closure(name):
            found.update(self.groups[group].hosts)
        return list(found)

    def connection(self, host: str) -> dict[str, Any]:
        """The ssh config values of `host`: `{host:, user:, port:}` as far as they are set
        (worked out once per host: every environment naming it asks again)."""
        if host not in self._connections:
            self._connections[host] = self._connection(host)
        return dict(self._connections[host])

    def listed(self, host: str) -> str:
        """`file:line: ` where `host` was first listed, as an error about its name starts."""
        return at(self.hosts_at, host)

    def written(self, host: str, setting: str) -> tuple[str, str]:
        """Where the value of `host`'s ssh `setting` (host, user, port) that applies was
        written, `file:line: ` as an error about it starts (or nothing), and its variable."""
        self.connection(host)
        key, where = self._settings_at.get(host, {}).get(setting, (setting, ""))
        return at({key: where}, key), key

    def _connection(self, host: str) -> dict[str, Any]:
        merged: dict[str, Any] = {}
        where: dict[str, Where] = {}  # of a variable: where the value that won was written

        def take(values: Mapping[str, Any], scope: str, name: str) -> None:
            merged.update(values)
            where.update((key, self.origins.get((scope, name, key), "")) for key in values)

        order = sorted(self.groups_of(host), key=lambda g: (
            self._depth(g), self.groups[g].priority if g in self.groups else 1, g))
        for group in ("all", *order):  # as Ansible's sort_groups: a tie in file order no more
            if group in self.groups:
                take(self.groups[group].vars, "group", group)
        for groups in (["all"], order):  # Ansible's all_plugins_inventory, then groups_…
            for i, folder in enumerate(self.group_files):
                for group in groups:
                    take(folder.get(group, {}), f"group_vars/{i}", group)
        take(self.host_vars.get(host, {}), "host", host)
        for i, folder in enumerate(self.host_files):
            take(folder.get(host, {}), f"host_vars/{i}", host)
        not_misread(merged, where)
        # null is "not set", as Ansible reads it (`ansible_host: null` reaches the inventory
        # name): never the text "None"; it still overrides what a wider group set
        values = {HONOURED[k]: merged[k] for k in HONOURED if merged.get(k) is not None}
        self._settings_at[host] = {HONOURED[k]: (k, where.get(k, "")) for k in HONOURED
                                   if merged.get(k) is not None}
        how = merged.get("ansible_connection")
        if how is not None and str(how).rsplit(".", 1)[-1] not in SSH_CONNECTIONS:
            raise ValueError(f"{at(where, 'ansible_connection')}its ansible_connection is "
                             f"{how!r}: an ssh layer reaches it over ssh only (name a group "
                             f"without it, or reach it with the layer its connection means: "
                             f"none for local, docker for docker)")
        for key in ("host", "user", "identity_file"):  # `ansible_user=1234` is a name
            if key in values and not isinstance(values[key], str) and not for_ansible(
                    values[key]):  # (a list or a mapping was refused at its line)
                values[key] = str(values[key])  # an `!unsafe` text stays one
        return values

    def only_ansible_reads(self, host: str, settings: Collection[str]) -> None:
        """Refuse a value of `host`'s ssh `settings` (those the layer leaves to the inventory)
        that only Ansible can read: left out, the inventory name would be reached (maybe
        another machine), as orch's own user (fleets21: root), at port 22."""
        values = self.connection(host)
        for setting in settings:
            if for_ansible(values.get(setting)):
                where, key = self.written(host, setting)
                fix = "the address in the inventory or the ssh layer" if setting == "host" \
                    else f"it out in the inventory, or {setting}: in the ssh layer"
                raise ValueError(f"{where}its {key} is {shown(values[setting])}, which only "
                                 f"Ansible can read: write {fix}")

    def _closure(self, name: str) -> list[str]:
        """`name` and every group under it, each once, depth first (a loop was refused when
        its child was added). Iterative: a deep chain or shared children cost one visit each."""
        found: dict[str, None] = {}
        stack = [name]
        while stack:
            group = stack.pop()
            if group not in found:
                found[group] = None
                stack.extend(reversed(self.groups[group].children))
        return list(found)

    def groups_of(self, host: str) -> list[str]:
        """The groups `host` is in, directly or through a child group (`all` aside); a host
        of no other group is in `ungrouped`, and only there (as Ansible moves it out)."""
        if self._in is None:
            member: dict[str, list[str]] = {}
            for group in self.groups:
                if group not in IMPLICIT:
                    for found in self._members(group):
                        member.setdefault(found, []).append(group)
            self._in = member
        return self._in.get(host) or ["ungrouped"]

    def _depth(self, group: str) -> int:
        """The longest way down from `all` (depth 0), which every group is under; worked out
        for every group at once, parents before children (a chain of thousands is no
        recursion)."""
        if not self._depths:
            above = {g: 0 for g in self.groups}  # parents not yet placed
            for body in self.groups.values():
                for child in body.children:
                    above[child] += 1
            depths = {g: 0 if g == "all" else 1 for g in self.groups}
            ready = [g for g, n in above.items() if n == 0]
            while ready:
                parent = ready.pop()
                for child in self.groups[parent].children:
                    depths[child] = max(depths[child], depths[parent] + 1)
                    above[child] -= 1
                    if above[child] == 0:
                        ready.append(child)
            self._depths = depths
        return 0 if group == "all" else self._depths.get(group, 1)


def load_inventories(paths: Iterable[str | Path], *, found: bool = False) -> Inventory:
    """One inventory from files in INI or YAML format (YAML by its suffix, or when the text
    parses as a mapping: `ansible-inventory` reads such a file as YAML too), with the
    group_vars/ and host_vars/ beside them (`found`: named by a config found where orch
    runs, each refused as it would be, `reading.read_text`)."""
    inv = Inventory()
    paths = list(paths)
    for path in paths:
        text = read_text(path, "inventory file", found=found)  # a byte-order mark dropped
        if text.startswith("#!") or os.access(path, os.X_OK):  # what Ansible would run
            raise ConfigError(f"{path}: an executable file is a dynamic inventory script, which "
                              f"orch does not run: save what it prints ({shlex.quote(str(path))} "
                              f"--list > hosts.json) and name that file" + (
                                  "" if text.startswith("#!") else ", or clear its x bit"))
        if Path(path).suffix in (".yml", ".yaml", ".json") or _is_yaml(text):
            from .inventory_yaml import from_yaml  # its own module: only YAML files need it

            from_yaml(inv, parse_file_text(text, path, ANSIBLE_TAGS, merges=True))
        else:
            from_ini(inv, text, str(path))
    inv.group_files, inv.host_files = read_beside(paths, [*IMPLICIT, *inv.groups], inv.host_vars,
                                                  inv.origins, found)
    return inv


def _is_yaml(text: str) -> bool:
    """A mapping of groups, each a mapping (an INI file is never one: `[web]` is a list).
    Only a file whose first line of content reads `key:` is parsed to find out, so a big
    INI file is not parsed as YAML first."""
    first = _FIRST_CONTENT.search(text)
    if first is None or not _YAML_START.match(first[0]):
        return False
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError:
        return False
    return isinstance(data, dict) and all(isinstance(v, (dict, type(None)))
                                          for v in data.values())


def _priority(value: Any) -> int:
    """`ansible_group_priority` as Ansible reads it: a whole number (`10`, `"10"`)."""
    text = str(value).strip()
    if isinstance(value, bool) or not re.fullmatch(r"[-+]?\d+", text):
        raise ValueError(f"ansible_group_priority must be a whole number, not {value!r}")
    return int(text)


def _port_of(pattern: str) -> tuple[str, int | None]:
    """`db:2222` → (`db`, 2222); `[fe80::1]:22` → (`fe80::1`, 22); a name alone: no port."""
    found = _HOST_PORT.fullmatch(pattern)
    if found is None:
        return pattern, None
    if found["v6"] is not None:
        return found["v6"], int(found["v6port"])
    return found["host"], int(found["port"])
