"""Inventories read as `ansible-inventory --list` (ansible-core, a test extra) reads them: every
group's hosts (children flattened) and every host's address, user and port, compared live on
hand-written files (INI and YAML: groups, children, ranges, vars, host:port, the older
ansible_ssh_* names, group_vars/ and host_vars/ beside them) and on seeded random ones."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from orch_magics import load_config
from orch_magics.config.inventory import load_inventories
from orch_magics.errors import ConfigError

ANSIBLE_INVENTORY = Path(sys.executable).with_name("ansible-inventory")
CONNECTION = {"ansible_host": "host", "ansible_user": "user", "ansible_port": "port",
              "ansible_private_key_file": "identity_file",
              "ansible_ssh_host": "host", "ansible_ssh_user": "user", "ansible_ssh_port": "port",
              "ansible_ssh_private_key_file": "identity_file"}

Reading = tuple[dict[str, list[str]], dict[str, dict[str, Any]]]


def ansible_reading(files: list[Path], home: Path) -> Reading:
    """Groups → sorted hosts, hosts → {host, user, port}, as ansible-inventory lists them."""
    argv = [str(ANSIBLE_INVENTORY), *(a for f in files for a in ("-i", str(f))), "--list"]
    env = {**os.environ, "HOME": str(home), "ANSIBLE_INVENTORY_ENABLED": "ini,yaml",
           "ANSIBLE_INVENTORY_UNPARSED_FAILED": "1", "ANSIBLE_LOCAL_TEMP": str(home)}
    done = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)

    def flat(group: str) -> list[str]:
        found = list(data.get(group, {}).get("hosts", []))
        for child in data.get(group, {}).get("children", []):
            found += [h for h in flat(child) if h not in found]
        return found

    groups = {g: sorted(flat(g)) for g in data if g != "_meta"}
    hosts = {}
    for host, hostvars in data["_meta"]["hostvars"].items():
        values = {CONNECTION[k]: v for k, v in hostvars.items() if k in CONNECTION}
        for name in ("host", "user", "port", "private_key_file"):  # the ssh plugin reads
            if f"ansible_ssh_{name}" in hostvars:                 # the older names last
                values[CONNECTION[f"ansible_{name}"]] = hostvars[f"ansible_ssh_{name}"]
        hosts[host] = {k: int(v) if k == "port" else str(v) for k, v in values.items()
                       if v is not None}  # null: not set (ssh reaches the inventory name)
    for host in flat("all"):  # a host with no variable is left out of hostvars
        hosts.setdefault(host, {})
    return groups, hosts


def orch_reading(files: list[Path], names: list[str]) -> Reading:
    inv = load_inventories(files)
    groups = {g: sorted(inv.hosts_of(g)) for g in names}
    return groups, {h: inv.connection(h) for h in inv.host_vars}


def assert_read_alike(files: list[Path], tmp_path: Path) -> None:
    theirs = ansible_reading(files, tmp_path)
    ours = orch_reading(files, list(theirs[0]))
    assert ours[1] == theirs[1]  # every host, where ansible would reach it
    assert ours[0] == theirs[0]  # every group ansible lists (it leaves empty ones out)


def write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)


@pytest.mark.parametrize("name", ["INI", "YAML", "ORDER_INI", "ORDER_YAML"])
def test_groups_children_ranges_vars_and_priorities(tmp_path: Path, name: str) -> None:
    """test_fleet_config.py's inventories, whose readings it states, as Ansible reads them."""
    import test_fleet_config

    suffix = "yaml" if "YAML" in name else "ini"
    write(tmp_path, {f"inv.{suffix}": getattr(test_fleet_config, name)})
    assert_read_alike([tmp_path / f"inv.{suffix}"], tmp_path)


def test_a_host_written_in_a_group_and_its_child_keeps_the_vars_read_last(tmp_path: Path) -> None:
    """Ansible reads a YAML group's sections in the file's order, so of a host written in a
    group and in its child, the later line's user wins. Before, a group's hosts were always
    read first: orch logged in as another user than Ansible would."""
    for text in ("web:\n  hosts:\n    w1: {ansible_user: parent}\n  children:\n    front:\n"
                 "      hosts:\n        w1: {ansible_user: child, ansible_port: 2200}\n",
                 "web:\n  children:\n    front:\n      hosts:\n        w1: {ansible_user: child}\n"
                 "  hosts:\n    w1: {ansible_user: parent, ansible_port: 2200}\n"):
        write(tmp_path, {"inv.yaml": text})
        assert_read_alike([tmp_path / "inv.yaml"], tmp_path)


def test_a_null_connection_variable_is_not_set_as_ansible_reads_it(tmp_path: Path) -> None:
    """api4: `ansible_host: null` (INI `ansible_host=None`) reached a host named "None",
    `ansible_user: null` logged in as "None", and `ansible_port: null` was a TypeError. For
    Ansible a null is not set, and it still overrides what a wider group set."""
    write(tmp_path, {
        "inv.yaml": "web:\n  vars: {ansible_user: deploy, ansible_port: 2200}\n  hosts:\n"
                    "    h1: {ansible_user: null, ansible_port: null}\n"
                    "    h2: {ansible_host: null}\n    h3: {}\n",
        "inv.ini": "[db]\nd1 ansible_host=None ansible_user=None\nd2 ansible_port=None\n"
                   "[db:vars]\nansible_user=deploy\nansible_port=2200\n"})
    for name in ("inv.yaml", "inv.ini"):
        assert_read_alike([tmp_path / name], tmp_path)
    inv = load_inventories([tmp_path / "inv.yaml", tmp_path / "inv.ini"])
    assert [inv.connection(h) for h in ("h1", "h2", "d1", "d2")] == [
        {}, {"user": "deploy", "port": 2200}, {"port": 2200}, {"user": "deploy"}]


def test_a_section_written_as_one_name_is_read_as_ansible_reads_it(tmp_path: Path) -> None:
    """`hosts: w9` is the host w9 and `children: sub` the child sub, as in Ansible (they
    were refused); `vars: 0` is refused as Ansible refuses it (it loaded as no vars)."""
    write(tmp_path, {"inv.yml": "all:\n  children:\n    web:\n      hosts: w9\n"
                                "      children: sub\n"})
    assert_read_alike([tmp_path / "inv.yml"], tmp_path)
    write(tmp_path, {"bad.yml": "all:\n  children:\n    db:\n      vars: 0\n"})
    with pytest.raises(ConfigError, match=r"bad.yml:4:13: group 'db': vars must be a mapping"):
        load_inventories([tmp_path / "bad.yml"])
    write(tmp_path, {"empty.yml": "all:\n  children:\n    db:\n      hosts: ''\n"})
    with pytest.raises(ConfigError, match=r"empty.yml:4:14: group 'db': hosts is an empty name"):
        load_inventories([tmp_path / "empty.yml"])


def test_a_value_python_warns_about_is_read_without_a_word_on_stderr(tmp_path: Path) -> None:
    """A value is tried as a Python literal, as Ansible does; text holding a number run into a
    keyword (`/srv/keys/v-7in/id`: `7in`) made Python print `<unknown>:1: SyntaxWarning:
    invalid decimal literal` on orch's stderr (seen in CI, from a temporary dir's name)."""
    write(tmp_path, {"inv.ini": "[web]\nk1 ansible_private_key_file=/srv/keys/v-7in/id x=a/1if\n",
                     "orch.yaml": "inventory: [inv.ini]\nenvironments:\n  web: {layers: "
                                  "[{type: ssh, config: {host: 'group:web'}}]}\n"})
    assert_read_alike([tmp_path / "inv.ini"], tmp_path)
    done = subprocess.run([sys.executable, "-m", "orch_magics.cli", "-c",
                           str(tmp_path / "orch.yaml"), "check"], capture_output=True, text=True,
                          timeout=60, env={**os.environ, "PYTHONWARNINGS": "default"})
    assert done.returncode == 0 and done.stderr == "", done.stderr


def test_a_range_with_an_empty_step_is_refused_as_ansible_refuses_it(tmp_path: Path) -> None:
    """`n[1:3:]` read as n1 n2 n3, an inventory ansible-inventory refuses (held-out tester)."""
    write(tmp_path, {"inv.ini": "[web]\nn[1:3:]\n"})
    argv = [str(ANSIBLE_INVENTORY), "-i", str(tmp_path / "inv.ini"), "--list"]
    env = {**os.environ, "HOME": str(tmp_path), "ANSIBLE_INVENTORY_ENABLED": "ini",
           "ANSIBLE_INVENTORY_UNPARSED_FAILED": "1", "ANSIBLE_LOCAL_TEMP": str(tmp_path)}
    assert subprocess.run(argv, capture_output=True, env=env, timeout=120).returncode != 0
    with pytest.raises(ConfigError, match=r"inv.ini:2: .*range \[1:3:\]: the step is empty"):
        load_inventories([tmp_path / "inv.ini"])


def test_group_vars_and_host_vars_beside_the_inventory(tmp_path: Path) -> None:
    """Ansible's recommended layout: connection variables in group_vars/ and host_vars/ (a
    file with or without a suffix, or a folder of files). Before, they were not read: a host
    was reached at its name, as the default user, on port 22."""
    write(tmp_path, {
        "hosts.ini": "[web]\nw1\nw2\nw3 ansible_user=inline\n[db]\nd1\n[prod:children]\nweb\ndb\n"
                     "[web:vars]\nansible_port=2100\n",
        "group_vars/all.yml": "ansible_user: everyone\nntp: pool.example\n",
        "group_vars/prod": "ansible_port: 2200\nansible_user: prod\n",  # the parent's file
        "group_vars/web/10-conn.yaml": "ansible_user: deploy\n",
        "group_vars/web/20-more.json": '{"ansible_ssh_user": "sshdeploy"}',
        "host_vars/w2.yml": "ansible_host: 10.9.9.9\nansible_port: 2222\n",
        "host_vars/d1": "---\n",  # empty: nothing changes
        "host_vars/w3.yml": "ansible_port: 22\n",
    })
    assert_read_alike([tmp_path / "hosts.ini"], tmp_path)
    inv = load_inventories([tmp_path / "hosts.ini"])
    assert inv.connection("w2") == {"host": "10.9.9.9", "user": "sshdeploy", "port": 2222}
    assert inv.connection("d1") == {"user": "prod", "port": 2200}


VAULTED = """\
ansible_user: deploy
ansible_become_password: !vault |
  $ANSIBLE_VAULT;1.1;AES256
  62313365396662343061393464336163383764373764613633653634306231386433626436623361
"""


@pytest.mark.parametrize("layout", ["first-suffix", "folder-order", "backups-hidden", "two-dirs",
                                    "vault", "keys"])
def test_vars_files_are_found_as_ansible_finds_them(tmp_path: Path, layout: str) -> None:
    """Only the first of NAME, NAME.yml, NAME.yaml, NAME.json; a folder's entries in name order,
    sub-folders in their place, hidden ones and `~` backups skipped; of two inventory
    folders, the later one's files win; a `!vault` value elsewhere in a file is no error."""
    hosts = "[web]\nw1\n[db]\nd1\n[prod:children]\nweb\ndb\n"
    files = {
        "first-suffix": {"group_vars/web.yml": "ansible_port: 2201\n",
                         "group_vars/web.yaml": "ansible_port: 2202\n",
                         "host_vars/d1": "ansible_user: bare\n",
                         "host_vars/d1.json": '{"ansible_user": "json"}'},
        "folder-order": {"group_vars/web/a/x.yml": "ansible_user: from_a_x\n",
                         "group_vars/web/b.yml": "ansible_user: from_b\n",
                         "group_vars/web/0.yml": "ansible_port: 2300\n"},
        "backups-hidden": {"group_vars/web/c.yml": "ansible_user: plain\n",
                           "group_vars/web/c.yml~": "ansible_user: tilde\n",
                           "group_vars/web/.old/z.yml": "ansible_user: hidden\n"},
        "two-dirs": {"B/hosts": "[a]\nw1\n", "B/group_vars/a.yml": "ansible_user: B_a\n",
                     "group_vars/prod.yml": "ansible_user: A_prod\n"},
        "vault": {"group_vars/all.yml": VAULTED},
        "keys": {"group_vars/prod.yml": "ansible_private_key_file: ~/.ssh/prod\n",
                 "group_vars/web.yml": "ansible_ssh_private_key_file: keys/web\n",
                 "host_vars/w1": "ansible_private_key_file: /k/w1\n"},
    }[layout]
    write(tmp_path, {"hosts": hosts, **files})
    inventories = [tmp_path / "hosts", *([tmp_path / "B/hosts"] if layout == "two-dirs" else [])]
    assert_read_alike(inventories, tmp_path)


def test_a_value_only_ansible_can_read_hides_what_a_group_above_set(tmp_path: Path) -> None:
    """As in Ansible, a `{{ … }}` value on an inventory line or a YAML inventory's `!vault`
    value wins over what a group above set (fleets21: it was left out, so the group's user,
    or orch's own, root, logged in where Ansible logs in as the template's). Before, a
    `!vault` value made the whole YAML inventory fail to load."""
    write(tmp_path, {
        "hosts.ini": "[web]\nw1 ansible_host=10.2.2.1 ansible_user=\"{{ u }}\" "
                     "ansible_port=2201\nw2 ansible_user='{{ u }}'\n[web:vars]\n"
                     "ansible_user=deploy\n",
        "inv.yml": "all:\n  vars: {ansible_user: base}\n  children:\n    db:\n      hosts:\n"
                   "        d1:\n          ansible_user: !vault |\n"
                   "            $ANSIBLE_VAULT;1.1;AES256\n            62313365396662343061\n"
                   "          ansible_become_password: !unsafe 'x{{'\n"
                   "          ansible_port: 2300\n"})
    inv = load_inventories([tmp_path / "hosts.ini", tmp_path / "inv.yml"])
    assert [inv.connection(h).get("user") for h in ("w1", "w2")] == ["{{ u }}"] * 2
    for host, line, shown in (("w1", "hosts.ini:2", "a template ('{{ u }}')"),
                              ("d1", "inv.yml:7", "vault-encrypted")):
        with pytest.raises(ValueError) as err:
            inv.only_ansible_reads(host, ["host", "user", "port"])
        assert str(err.value) == (f"{tmp_path}/{line}: its ansible_user is {shown}, which "
                                  f"only Ansible can read: write it out in the inventory, or "
                                  f"user: in the ssh layer")
    inv.only_ansible_reads("d1", ["host", "port"])  # the layer sets the user: none applies
    theirs = ansible_reading([tmp_path / "hosts.ini", tmp_path / "inv.yml"], tmp_path)[0]
    assert {g: sorted(inv.hosts_of(g)) for g in theirs} == theirs


def test_an_environment_refuses_a_login_only_ansible_can_read_unless_its_layer_sets_one(
        tmp_path: Path) -> None:
    """fleets21 (high): `ansible_user: "{{ deploy_user }}"` (or `!vault`, or a templated
    port) was dropped without a word: the fleet ran as root, or dialled port 22."""
    from orch_magics.errors import ConfigError

    write(tmp_path, {"hosts.ini": "[web]\nw1 ansible_host=10.1.1.1\n",
                     "group_vars/web.yml": "deploy_user: app\nansible_user: '{{ deploy_user }}'\n"
                                           "ansible_port: '{{ web_port }}'\n"})
    for layer, said in (("{host: 'group:web'}", "ansible_user is a template"),
                        ("{host: 'group:web', user: app}", "ansible_port is a template"),
                        ("{host: 'group:web', user: app, port: 2222}", None)):
        write(tmp_path, {"orch.yaml": f"inventory: [hosts.ini]\nenvironments:\n  e:\n"
                                      f"    layers:\n      - {{type: ssh, config: {layer}}}\n"})
        if said is None:
            config = load_config(tmp_path / "orch.yaml")
            assert config.environment("e").layers[0].fanout is not None
            continue
        with pytest.raises(ConfigError, match=said) as err:
            load_config(tmp_path / "orch.yaml")
        assert f"{tmp_path}/group_vars/web.yml:" in str(err.value), str(err.value)


def test_a_host_named_by_a_path_reads_no_file_there(tmp_path: Path) -> None:
    """A "chroot" host (`/srv/root`) is a path: Ansible reads no host_vars for it; orch read
    the file at that path as its vars (and refused the inventory when it was no YAML)."""
    write(tmp_path, {"hosts": f"[jail]\n{tmp_path}/root\n", "root": "ansible_port: 2200\n",
                     "host_vars/x": "ansible_user: x\n"})
    assert_read_alike([tmp_path / "hosts"], tmp_path)


def test_a_chain_of_a_thousand_groups_loads_and_ranks(tmp_path: Path) -> None:
    """A loop check per child walked the groups below it recursively: a chain of 1,000 added
    leaf first took 32 s, and the depth of 1,500 was a RecursionError (a traceback)."""
    lines = [f"[g{i}:children]\ng{i + 1}" for i in range(1499, 0, -1)]
    write(tmp_path, {"inv.ini": "\n".join([*lines, "[g1500]\nh1", "[g1:vars]\nansible_user=top",
                                          "[g1500:vars]\nansible_user=deep"]) + "\n"})
    inv = load_inventories([tmp_path / "inv.ini"])
    assert inv.connection("h1") == {"user": "deep"} and inv.hosts_of("g1") == ["h1"]


def test_a_templated_address_is_refused_where_it_applies(tmp_path: Path) -> None:
    """group_vars often template (`{{ web_port }}`): orch cannot read such a value. An
    address left out would reach the inventory name instead, maybe another machine, so it
    is refused when it is the one that applies."""
    write(tmp_path, {"hosts": "[web]\nw1 ansible_user=line\nw2 ansible_host=10.1.1.2\n",
                     "group_vars/web.yml": "ansible_host: '{{ inventory_hostname }}.internal'\n"
                                           "ansible_user: ok\n",
                     "host_vars/w2.yml": "ansible_user: !unsafe 'we{{ird'\n"})
    inv = load_inventories([tmp_path / "hosts"])
    with pytest.raises(ValueError, match=r"/group_vars/web\.yml:1: its ansible_host is a "
                                         r"template \('\{\{ "
                                         r"inventory_hostname \}\}.internal'\), which only "
                                         r"Ansible can read"):
        inv.only_ansible_reads("w1", ["host"])
    # the host's own address wins over the group's template; `!unsafe` is taken as written
    inv.only_ansible_reads("w2", ["host", "user"])
    assert inv.connection("w2") == {"host": "10.1.1.2", "user": "we{{ird"}


def test_a_bad_port_in_a_vars_file_names_its_line(tmp_path: Path) -> None:
    from orch_magics.errors import ConfigError

    write(tmp_path, {"hosts.ini": "[web]\nw1\n",
                     "group_vars/web.yml": "ansible_user: deploy\nansible_port: http\n"})
    write(tmp_path, {"orch.yaml": "inventory: [hosts.ini]\nenvironments:\n  e:\n    layers:\n"
                                  "      - {type: ssh, config: {host: 'group:web'}}\n"})
    with pytest.raises(ConfigError) as err:
        load_config(tmp_path / "orch.yaml")
    assert f"{tmp_path}/group_vars/web.yml:2: inventory host 'w1': ansible_port must be a " \
           f"port number" in str(err.value), str(err.value)


def random_ini(rnd: random.Random) -> str:
    """Groups, children (no cycles, each declared), vars and priorities, hosts in several."""
    groups = [f"g{i}" for i in range(rnd.randint(2, 6))]
    hosts = [f"h{i}" for i in range(rnd.randint(2, 6))]
    lines, declared, above = [], [], {}  # above: a group's ancestors
    if rnd.random() < 0.5:
        lines.append(f"{rnd.choice(hosts)} ansible_user=top")
    for group in rnd.sample(groups, len(groups)):
        if declared and rnd.random() < 0.3:
            lines.append(f"[{group}:children]")
            free = [c for c in declared if group not in above.get(c, set())]
            for child in rnd.sample(free, min(len(free), rnd.randint(1, 2))):
                lines.append(child)
                above.setdefault(child, set()).update({group, *above.get(group, set())})
        else:
            lines.append(f"[{group}]")
            for host in rnd.sample(hosts, rnd.randint(1, len(hosts))):
                extra = [f"ansible_user={group}{host}"] if rnd.random() < 0.3 else []
                extra += [f"ansible_port={rnd.randint(1000, 2000)}"] if rnd.random() < 0.2 else []
                extra += [f"ansible_ssh_user=s{group}"] if rnd.random() < 0.15 else []
                lines.append(" ".join([host, *extra]))
        declared.append(group)
    for group in rnd.sample(declared, rnd.randint(0, len(declared))):
        lines.append(f"[{group}:vars]")
        lines += [f"ansible_user=v{group}"] if rnd.random() < 0.7 else []
        lines += [f"ansible_port={rnd.randint(2000, 3000)}"] if rnd.random() < 0.4 else []
        lines += [f"ansible_group_priority={rnd.randint(0, 3)}"] if rnd.random() < 0.3 else []
        lines += [f"ansible_host=10.0.0.{rnd.randint(1, 9)}"] if rnd.random() < 0.2 else []
    return "\n".join(lines) + "\n"


def random_yaml(rnd: random.Random) -> str:
    names, hosts = [f"g{i}" for i in range(6)], [f"h{i}" for i in range(5)]

    def group(depth: int, index: int) -> dict[str, Any] | None:  # children further down
        # `names` (a group under itself anywhere would be a cycle, which Ansible refuses)
        body: dict[str, Any] = {}
        if rnd.random() < 0.7:
            body["hosts"] = {h: rnd.choice([None, {"ansible_user": f"u{rnd.randint(0, 9)}"},
                                            {"ansible_port": rnd.randint(1000, 2000)}])
                             for h in rnd.sample(hosts, rnd.randint(1, 3))}
        if rnd.random() < 0.6:
            body["vars"] = {k: v for k, v in (("ansible_user", f"g{rnd.randint(0, 99)}"),
                                              ("ansible_ssh_port", rnd.randint(3000, 4000)),
                                              ("ansible_group_priority", rnd.randint(0, 3)))
                            if rnd.random() < 0.5}
        free = names[index + 1:]
        if depth < 3 and free and rnd.random() < 0.6:
            chosen = rnd.sample(free, min(len(free), rnd.randint(1, 2)))
            body["children"] = {c: group(depth + 1, names.index(c)) for c in chosen}
        return body or None

    top = rnd.sample(names, rnd.randint(1, 3))
    return yaml.safe_dump({name: group(0, names.index(name)) for name in top})


def random_vars(rnd: random.Random, root: Path, names: list[str]) -> None:
    """Some group_vars/ and host_vars/ files for `names` (groups and hosts alike)."""
    for name in rnd.sample(names, min(len(names), rnd.randint(0, 3))):
        kind = "group_vars" if name.startswith("g") or name == "all" else "host_vars"
        values = {k: v for k, v in (("ansible_user", f"f{name}"),
                                    ("ansible_port", rnd.randint(4000, 5000)))
                  if rnd.random() < 0.6}
        write(root, {f"{kind}/{name}{rnd.choice(['', '.yml', '.yaml'])}": yaml.safe_dump(values)})


@pytest.mark.parametrize("seed", range(6))
def test_random_ini_inventories(tmp_path: Path, seed: int) -> None:
    rnd = random.Random(seed)
    write(tmp_path, {"inv.ini": random_ini(rnd)})
    random_vars(rnd, tmp_path, ["all", *(f"g{i}" for i in range(6)), *(f"h{i}" for i in range(6))])
    assert_read_alike([tmp_path / "inv.ini"], tmp_path)


@pytest.mark.parametrize("seed", range(6))
def test_random_yaml_inventories(tmp_path: Path, seed: int) -> None:
    rnd = random.Random(1000 + seed)
    write(tmp_path, {"inv.yaml": random_yaml(rnd)})
    random_vars(rnd, tmp_path, ["all", *(f"g{i}" for i in range(6)), *(f"h{i}" for i in range(5))])
    assert_read_alike([tmp_path / "inv.yaml"], tmp_path)


@pytest.mark.parametrize(("files", "texts"), [
    (["inv.ini"], ["[g1]\nh1:2201\n[g2]\nh1:2202\n"]),
    (["inv.ini"], ["[g1]\nh1\n[g2]\nh1:2202\n"]),
    (["inv.ini"], ["h1:2201 ansible_user=a\nh1:2202 ansible_user=b\n"]),
    (["inv.ini"], ["[g1]\nh1:2201\n[g2]\nh1:2202 ansible_port=2203\n"]),
    (["inv.yaml"], ["g1:\n  hosts:\n    h1:2201:\ng2:\n  hosts:\n    h1:2202:\n"]),
    (["a.ini", "b.ini"], ["h1:2201\n", "h1:2202\n"]),
], ids=["two-groups", "first-without", "ungrouped", "var-wins", "yaml", "two-files"])
def test_a_hosts_port_is_the_one_it_was_first_listed_with(tmp_path: Path, files: list[str],
                                                           texts: list[str]) -> None:
    """s8-fleet #3: a host listed again as `h1:2202` took the later port; Ansible keeps the
    port of its first listing (or none), and only an `ansible_port=` variable changes it."""
    write(tmp_path, dict(zip(files, texts, strict=True)))
    assert_read_alike([tmp_path / f for f in files], tmp_path)


def ours_and_ansibles(tmp_path: Path, inventory: str, limit: str) -> tuple[list[str], list[str]]:
    """The hosts `limit` keeps of the INI `inventory`, as orch's `select` reads it and as
    `ansible --list-hosts` does."""
    from orch_magics.fleet.select import select

    write(tmp_path, {"inv.ini": inventory})
    env = {**os.environ, "HOME": str(tmp_path), "ANSIBLE_INVENTORY_ENABLED": "ini",
           "ANSIBLE_LOCAL_TEMP": str(tmp_path)}
    done = subprocess.run([str(ANSIBLE_INVENTORY.with_name("ansible")), "all", "-i",
                           str(tmp_path / "inv.ini"), "--list-hosts", "--limit", limit],
                          capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    inv = load_inventories([tmp_path / "inv.ini"])
    hosts = inv.hosts_of("all")
    return (sorted(select(hosts, limit, {h: inv.groups_of(h) for h in hosts})),
            sorted(line.strip() for line in done.stdout.splitlines()[1:]))


@pytest.mark.parametrize("limit", ["~web-0[12]", "~db", "~(web|db)-0?1$", "all:!~.*2$",
                                   "~prod", "~p,&~.*3", "web:!~web-0[13]", "db*,~w.b-02"])
def test_a_regex_limit_keeps_the_hosts_ansible_keeps(tmp_path: Path, limit: str) -> None:
    """`--limit ~REGEX` is Ansible's regular-expression pattern (matched from the start of a
    host or a group name); it matched nothing and said only that (held-out tester)."""
    ours, theirs = ours_and_ansibles(
        tmp_path, "[web]\nweb-0[1:3]\n[db]\ndb-1\ndb-2\n[prod:children]\nweb\n", limit)
    assert ours == theirs
    assert theirs  # each limit keeps some, so both readings are compared on something


@pytest.mark.parametrize("limit", ["db", "!db", "all:!db", "db,web", "all:&db"])
def test_a_name_that_is_a_host_and_a_group_is_the_host_as_ansible_reads_it(
        tmp_path: Path, limit: str) -> None:
    """fleets21: `--limit db`, where db is a host and a group, ran on the host and every host
    of the group (and `!db` dropped them all); Ansible takes the host (and warns)."""
    ours, theirs = ours_and_ansibles(
        tmp_path, "db ansible_host=10.0.0.9\nweb1\n[db]\nd1\nd2\n[web]\nweb1\ndb\n", limit)
    assert ours == theirs


@pytest.mark.parametrize("limit", ["web[0]", "web[-1]", "web[1:2]", "web[1:]", "prod[0]",
                                   "db[1],web[0]", "web:!web[0]", "db[-2]", "@retry",
                                   "db-1:@retry", "web*[-1]", "w*[1]", "db*[0:1]"])
def test_subscripts_and_limit_files_keep_the_hosts_ansible_keeps(
        tmp_path: Path, limit: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """fleets11: `web[-1]` (Ansible: the group's last host) ran on web-01, read as a character
    class, and `@FILE` (a limit or .retry file) was taken for a host name."""
    from orch_magics.fleet.options import FleetOptions
    from orch_magics.fleet.select import select

    write(tmp_path, {"inv.ini": "[web]\nweb-0[1:3]\n[db]\ndb-1\ndb-2\n[prod:children]\nweb\n",
                     "retry": "web-02\ndb-2\n"})
    env = {**os.environ, "HOME": str(tmp_path), "ANSIBLE_INVENTORY_ENABLED": "ini",
           "ANSIBLE_LOCAL_TEMP": str(tmp_path)}
    done = subprocess.run([str(ANSIBLE_INVENTORY.with_name("ansible")), "all", "-i",
                           str(tmp_path / "inv.ini"), "--list-hosts", "--limit", limit],
                          capture_output=True, text=True, env=env, timeout=120, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    theirs = sorted(line.strip() for line in done.stdout.splitlines()[1:])
    inv = load_inventories([tmp_path / "inv.ini"])
    hosts = inv.hosts_of("all")
    monkeypatch.chdir(tmp_path)  # a limit file is read from where orch runs, as Ansible does
    ours = FleetOptions(limit=limit).limit
    assert sorted(select(hosts, ours, {h: inv.groups_of(h) for h in hosts})) == theirs
    assert theirs


def test_a_subscript_past_a_groups_end_and_a_missing_limit_file_say_so(tmp_path: Path) -> None:
    from orch_magics.fleet.options import FleetOptions
    from orch_magics.fleet.select import select

    groups = {"web-1": ["web"], "web-2": ["web"]}
    with pytest.raises(ConfigError, match=r"limit pattern 'web\[2\]' picks no target: group "
                                          r"'web' has 2, web\[0\] the first, web\[1\] or "
                                          r"web\[-1\] the last"):
        select(["web-1", "web-2"], "web[2]", groups)
    with pytest.raises(ConfigError, match=r"written web\[0:1\] \(both ends in\)"):
        select(["web-1", "web-2"], "web[0-1]", groups)
    assert select(["web-1", "web-2"], "web-[2:3]", groups) == ["web-2"]  # a range of names
    # fleets12: not a group, a pattern: its targets by position; a base matching none is a
    # character class or a range of names, but for a negative index (web1 for `web[-1]`)
    hosts = [f"web{i}" for i in range(1, 6)] + ["web-01", "web-02"]
    assert select(hosts, "web*[-1]") == ["web-02"] and select(hosts, "w*[1]") == ["web2"]
    assert select(hosts, "web-0[12]") == ["web-01", "web-02"] and select(hosts, "web[2]") == [
        "web2"]
    with pytest.raises(ConfigError, match=r"written web\*\[1:2\] \(both ends in\)"):
        select(hosts, "web*[1-2]")  # fleets23: a character class after a glob, web1 and web2
    addresses = ["127.0.1.1", "127.0.1.10", "127.0.1.11", "127.0.1.12"]  # a base that is a
    assert select(addresses, "127.0.1.1[0-2]") == addresses[1:]  # target: brackets of names
    with pytest.raises(ConfigError, match=r"'web\[-1\]' picks no target: 'web' matches none"):
        select(hosts, "web[-1]")
    # review21: on HOST/CONTAINER targets a position would count containers (and a host that
    # could not be listed moved them): refused, naming what to write instead
    layered = {"h1/a": ["web"], "h1/b": ["web"], "h2/a": ["web"]}
    with pytest.raises(ConfigError, match=r"'web\[0\]': a subscript picks a group's hosts by "
                                          r"position, .* \(h1/a\): name them \(h1, h1/\*\)"):
        select(list(layered), "web[0]", layered)
    with pytest.raises(ConfigError, match=f"limit file '{tmp_path}/gone' \\(--limit "
                                          f"@{tmp_path}/gone\\) cannot be read: No such file"):
        FleetOptions(limit=f"@{tmp_path}/gone")
    with pytest.raises(ConfigError, match=r"'!@x': a limit file is read by @FILE alone"):
        FleetOptions(limit="web,!@x")  # fleets12: said as a host that matched nothing


def test_a_regex_limit_that_is_no_regular_expression_says_so() -> None:
    from orch_magics.fleet.select import select

    with pytest.raises(ConfigError, match=r"limit pattern '~web\[' is not a valid regular "
                                          r"expression: unterminated character set"):
        select(["web-1"], "~web[")
    # basics9: one too large or too deep for `re` was an internal error (OverflowError,
    # RecursionError) in the CLI and a bare exception from the API
    with pytest.raises(ConfigError, match=r"'~a\{99999999999\}' is not a valid regular "
                                          r"expression: the repetition number is too large"):
        select(["web-1"], "~a{99999999999}")
    with pytest.raises(ConfigError, match=r"nested too deeply"):
        select(["web-1"], "~" + "(" * 5000 + "a" + ")" * 5000)


def test_merge_keys_in_a_yaml_inventory_are_read_as_ansible_reads_them(tmp_path: Path) -> None:
    """basics9: `w2: {<<: *h}` was refused ("YAML merge keys (<<) are not supported here")
    where ansible-inventory reads it, while group_vars files took merge keys. A key written
    beside the merge wins; hosts merged into a group's `hosts:` count as written there."""
    write(tmp_path, {"inv.yml": (
        "all:\n  children:\n    web:\n      hosts:\n"
        "        w1: &h {ansible_host: 127.0.0.5, ansible_port: 2222, ansible_user: ops}\n"
        "        w2:\n          <<: *h\n          ansible_port: 2300\n"
        "        w3:\n          <<: [{ansible_user: deploy}, {ansible_host: 127.0.0.6}]\n"
        "    db:\n      hosts:\n        <<: {d1: {ansible_port: 2201}}\n        d2: {}\n")})
    assert_read_alike([tmp_path / "inv.yml"], tmp_path)
    inv = load_inventories([tmp_path / "inv.yml"])
    assert inv.connection("w2") == {"host": "127.0.0.5", "port": 2300, "user": "ops"}
    # Of a list, the first mapping that has a key gives it, as the YAML merge spec says
    # (PyYAML 6.0.4 keeps the last one for most keys, so Ansible may read ops here).
    write(tmp_path, {"list.yml": "web:\n  hosts:\n    w1: &h {ansible_user: ops}\n"
                                 "    w3:\n      <<: [{ansible_user: first}, *h]\n"})
    assert load_inventories([tmp_path / "list.yml"]).connection("w3") == {"user": "first"}
    write(tmp_path, {"bad.yml": "web:\n  hosts:\n    w1:\n      <<: 5\n"})
    with pytest.raises(ConfigError, match=r"bad.yml:4:11: a merge key \(<<\) takes a mapping"):
        load_inventories([tmp_path / "bad.yml"])


def test_an_address_template_error_names_the_variable_and_line_that_set_it(
        tmp_path: Path) -> None:
    """review19: an `ansible_ssh_host` template was said as "its ansible_host is a template",
    pointing at a line with no ansible_host on it."""
    write(tmp_path, {"hosts": "[web]\nw1 ansible_host=10.0.0.1\n",
                     "group_vars/web.yml": "x: 1\nansible_ssh_host: '{{ x }}'\n"})
    inv = load_inventories([tmp_path / "hosts"])
    with pytest.raises(ValueError, match=r"/group_vars/web\.yml:2: its ansible_ssh_host is a "
                                         r"template \('\{\{ x \}\}'\)"):
        inv.only_ansible_reads("w1", ["host"])


@pytest.mark.parametrize("text, line, first", [
    ('ansible_port: "2222"\nansible_user: deploy\nansible_port: 0022\n', 3, 1),
    ("ansible_host: 127.0.0.5\nansible_host: 127.0.0.9\n", 2, 1),
    ("ansible_port: 2201\nntp: x\nansible_port: 2202\n", 3, 1)])
def test_a_variable_written_twice_in_a_vars_file_is_refused_at_its_line(
        tmp_path: Path, text: str, line: int, first: int) -> None:
    """config17: the last of two was taken without a word, and the YAML 1.1 check read the
    first: `ansible_port: 0022` after a quoted one dialled port 18; two plain values gave
    "reads 2201 as an integer (2202)". The inventory itself refuses a duplicate key."""
    write(tmp_path, {"hosts.ini": "[web]\nw1\n", "group_vars/web.yml": text})
    key = text.splitlines()[line - 1].split(":")[0]
    with pytest.raises(ConfigError) as err:
        load_inventories([tmp_path / "hosts.ini"]).connection("w1")
    assert str(err.value) == (f"{tmp_path / 'group_vars/web.yml'}:{line}: duplicate key {key!r} "
                              f"(first at line {first}): write it once")


def test_a_variable_of_ansible_s_own_written_twice_is_left_to_it(tmp_path: Path) -> None:
    """review33: any key written twice refused the whole config, `app_version` too, which
    orch never reads and Ansible takes (the last, with a warning)."""
    write(tmp_path, {"hosts.ini": "[web]\nw1\n", "group_vars/web.yml":
                     "ansible_user: deploy\napp_version: 1.2\napp_version: 1.3\n"})
    assert load_inventories([tmp_path / "hosts.ini"]).connection("w1")["user"] == "deploy"
