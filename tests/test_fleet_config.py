"""Fleet configs: lists, range patterns, inventories (INI and YAML), labels, errors with lines."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from orch_magics import ConfigError, Orchestrator, load_config, load_config_text
from orch_magics.cli.app import main
from orch_magics.config import patterns
from orch_magics.config.inventory import load_inventories
from orch_magics.fleet import expand
from orch_magics.fleet.select import read_limit, select
from orch_magics.fleet.targets import the_one


@pytest.mark.parametrize(("pattern", "names"), [
    ("web-[01:03].prod", ["web-01.prod", "web-02.prod", "web-03.prod"]),
    ("node-[a:c]", ["node-a", "node-b", "node-c"]),
    ("r[1:2]-[a:b]", ["r1-a", "r1-b", "r2-a", "r2-b"]),
    ("h[0:6:3]", ["h0", "h3", "h6"]),
    ("h[8:10]", ["h8", "h9", "h10"]),
    ("plain", ["plain"]),
])
def test_range_patterns_expand_like_ansible(pattern: str, names: list[str]) -> None:
    assert patterns.expand(pattern) == names


@pytest.mark.parametrize("bad", ["h[3:1]", "h[1:b]", "h[1:3:0]", "h[0:99999999]", "h[1:3:]"])
def test_bad_ranges_are_errors(bad: str) -> None:
    with pytest.raises(ValueError):
        patterns.expand(bad)


@pytest.mark.parametrize(("layer", "column", "message"), [
    ('{type: ssh, config: {host: "web-[01-12].prod", user: deploy}}', 36,
     "host 'web-[01-12].prod': [01-12] is not a range: a range is written [01:12] or [a:f], "
     "a ':' between start and end"),
    ('{type: ssh, config: {host: "web-[01:12.prod"}}', 36,
     "host 'web-[01:12.prod': range '[01:12.prod' has no closing ']': a range is written "
     "[01:12] or [a:f]"),
    ('{type: ssh, config: {host: [a, "web]1"]}}', 40,
     "host 'web]1': a ']' with no '[' before it: a range is written [01:12] or [a:f]"),
    ('{type: ssh, config: {host: "[fe80::1]"}}', 36,
     "host '[fe80::1]': [fe80::1] is an IPv6 address in brackets: write it without them "
     "(fe80::1)"),
    ('{type: docker, config: {container: "app-[a-c]"}}', 44,
     "container 'app-[a-c]': [a-c] is not a range"),
    # an empty step was taken for 1, where ansible-core refuses it (held-out tester)
    ('{type: ssh, config: {host: "web-[1:3:]"}}', 36,
     "host 'web-[1:3:]': range [1:3:]: the step is empty (as ansible-core refuses it; drop "
     "the last colon, or give a step)"),
    # fleets17: a superscript is a digit to str.isdigit and no number to int(): its message
    ('{type: ssh, config: {host: "x[1:²]"}}', 36,
     "host 'x[1:²]': range [1:²]: give two numbers ([01:12]) or two letters ([a:f])"),
])
def test_a_range_written_wrong_is_a_config_error_saying_how_one_is_written(
        layer: str, column: int, message: str) -> None:
    """Before: `web-[01-12].prod` was one host of that name, found out at run time from a DNS
    error (a `[` or `]` is never part of a host or container name)."""
    with pytest.raises(ConfigError) as err:
        load_config_text(f"environments:\n  f:\n    layers:\n      - {layer}\n", "x.yaml")
    assert f"x.yaml:4:{column}: {message}" in str(err.value), str(err.value)


@pytest.mark.parametrize("command", ["ls", "check"])
def test_orch_ls_and_check_show_a_range_written_wrong(tmp_path: Path, capsys,
                                                      command: str) -> None:
    (tmp_path / "orch.yaml").write_text(
        "environments:\n  web:\n    layers: [{type: ssh, config: {host: 'web-[01-12]'}}]\n")
    assert main(["-c", str(tmp_path / "orch.yaml"), command]) == 2
    err = capsys.readouterr().err
    assert "orch.yaml:3:41: host 'web-[01-12]': [01-12] is not a range" in err, err


def _env(text: str):
    return load_config_text(text).environment("f")


def test_fan_out_at_any_position_gives_every_combination() -> None:
    env = _env("""\
environments:
  f:
    layers:
      - {type: ssh, config: {host: [bastion-eu, bastion-us]}}
      - {type: ssh, config: {host: "db-[1:2]"}}
      - {type: docker, config: {container: [app-1, app-2]}}
""")
    targets = expand(env.layers)
    assert [t.label for t in targets] == [
        f"{b}/{d}/{a}" for b in ("bastion-eu", "bastion-us") for d in ("db-1", "db-2")
        for a in ("app-1", "app-2")]
    first = targets[0].layers
    assert [s.config.host for s in first[:2]] == ["bastion-eu", "db-1"]
    assert first[2].config.container == "app-1" and first[0].fanout is None
    assert env.is_fleet and "ssh db-[1:2]" in env.describe()


def test_single_target_environments_are_unchanged() -> None:
    env = _env("environments:\n  f:\n    layers: [{type: ssh, config: {host: web-1}}]\n")
    assert not env.is_fleet and env.layers[0].fanout is None
    assert env.layers[0].config.host == "web-1"


def test_docker_label_is_resolved_at_run_time() -> None:
    env = _env("environments:\n  f:\n    layers: [{type: docker, config: {label: app=web}}]\n")
    [target] = expand(env.layers)
    assert env.is_fleet and target.pending == 0


@pytest.mark.parametrize(("host", "message"), [
    ('"web-[3:1]"', "start comes after its end"),
    ("[a, a]", "'a' is named twice"),
    ('"group:web"', "no inventory is loaded"),
    ("[web, 3]", "must be a host or container name"),
])
def test_fan_out_mistakes_point_at_the_line(host: str, message: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_config_text(f"environments:\n  f:\n    layers:\n"
                         f"      - {{type: ssh, config: {{host: {host}}}}}\n", "x.yaml")
    assert message in str(err.value) and "x.yaml:4" in str(err.value)


@pytest.mark.parametrize(("layers", "message"), [
    # counted before a name is made: these took 0.7 GB and 1.7 s, or failed with OverflowError
    ('[{type: ssh, config: {host: "h[1:9999999]"}}]',
     "range [1:9999999] stands for 9,999,999 names (at most 100,000)"),
    ('[{type: ssh, config: {host: "h[1:99999999999999999999]"}}]',
     "stands for 99,999,999,999,999,999,999 names"),
    ('[{type: ssh, config: {host: ["a[1:60000]", "b[1:60000]"]}}]',
     "environments.f.layers[0].config.host names 120,000 targets (at most 100,000)"),
    # fleets17: a list's ranges were each made before their sum was compared (1 GB, 33 s)
    ("[{type: ssh, config: {host: [" + ", ".join(f'"h{i}-[1:99999]"' for i in range(20))
     + "]}}]", "environments.f.layers[0].config.host names 1,999,980 targets (at most "
               "100,000)"),
    # every combination: `orch ls` of this one used 6.7 GB and did not end in a minute
    ('[{type: ssh, config: {host: "b[1:100000]"}}, {type: ssh, config: {host: "h[1:100000]"}}]',
     "environment 'f' fans out to 10,000,000,000 targets (at most 100,000)"),
])
def test_too_many_targets_are_refused_before_they_are_made(
        layers: str, message: str, monkeypatch: pytest.MonkeyPatch) -> None:
    made: list[int] = []  # how many names each range made (a spy: the loading is real)
    one_range = patterns._one_range
    monkeypatch.setattr(patterns, "_one_range", lambda m: made.append(len(n := one_range(m)))
                        or n)
    with pytest.raises(ConfigError) as err:
        load_config_text(f"environments:\n  f:\n    layers: {layers}\n", "x.yaml")
    assert message in str(err.value) and "x.yaml:3" in str(err.value), str(err.value)
    assert sum(made) <= 2 * patterns.MAX_NAMES  # at most each of two layers' own names


@pytest.mark.parametrize(("kind", "key"), [("ssh", "host"), ("docker", "container")])
def test_an_empty_target_list_is_a_config_error(kind: str, key: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_config_text(f"environments:\n  f:\n    layers:\n"
                         f"      - {{type: {kind}, config: {{{key}: []}}}}\n", "x.yaml")
    assert "is an empty list" in str(err.value) and "x.yaml:4" in str(err.value)


INI = """\
# web and db, with children and vars
lone.example ansible_port=2200
[web]
web-[01:03].example ansible_user=deploy
special ansible_host=10.0.0.9 ansible_port=2222
[db]
db-[a:b] ansible_host=127.0.0.5
[prod:children]
web
db
[prod:vars]
ansible_user=produser
ansible_port=2022
[web:vars]
ansible_port=2122
"""

YAML = """\
all:
  vars: {ansible_user: everyone}
  hosts:
    lone.example: {ansible_port: 2200}
  children:
    prod:
      vars: {ansible_user: produser, ansible_port: 2022}
      children:
        web:
          vars: {ansible_port: 2122}
          hosts:
            web-[01:03].example: {ansible_user: deploy}
            special: {ansible_host: 10.0.0.9, ansible_port: 2222}
        db:
          hosts:
            db-[a:b]: {ansible_host: 127.0.0.5}
"""

#: What `ansible-inventory --list` reports on these two files (groups flattened, host vars
#: over child group vars over parent group vars); test_inventory_ansible.py asks it live.
EXPECTED_HOSTS = {
    "prod": ["web-01.example", "web-02.example", "web-03.example", "special", "db-a", "db-b"],
    "web": ["web-01.example", "web-02.example", "web-03.example", "special"],
    "db": ["db-a", "db-b"],
}


@pytest.mark.parametrize(("name", "text"), [("inv.ini", INI), ("inv.yaml", YAML)])
def test_inventories_groups_children_ranges_and_vars(tmp_path: Path, name: str,
                                                     text: str) -> None:
    (tmp_path / name).write_text(text)
    inv = load_inventories([tmp_path / name])
    for group, hosts in EXPECTED_HOSTS.items():
        assert inv.hosts_of(group) == hosts
    assert inv.connection("web-02.example") == {"user": "deploy", "port": 2122}
    assert inv.connection("special") == {"host": "10.0.0.9", "user": "produser", "port": 2222}
    assert inv.connection("db-b") == {"host": "127.0.0.5", "user": "produser", "port": 2022}
    assert inv.connection("lone.example")["port"] == 2200
    with pytest.raises(ConfigError, match="did you mean 'web'"):
        inv.hosts_of("wbe")


ORDER_INI = """\
[high]
h3
[high:vars]
ansible_group_priority=10
ansible_user=high
ansible_port=2010
[zz]
h1
h2
h3
[aa]
h1
h2
h3
[zz:vars]
ansible_user=zz
[aa:vars]
ansible_user=aa
ansible_port=2001
[low]
h2
[low:vars]
ansible_group_priority=-3
ansible_user=low
"""

ORDER_YAML = """\
all:
  children:
    mm:
      hosts: {y1: , y2: }
      vars: {ansible_user: mm, ansible_port: 2100}
    kid:
      children:
        leaf: {hosts: {y2: }, vars: {ansible_user: leaf}}
bb:
  hosts: {y1: }
  vars: {ansible_user: bb, ansible_group_priority: "0"}
zz:
  hosts: {y1: , y2: }
  vars: {ansible_port: 2200}
"""

#: `ansible-inventory --list` (ansible-core 2.19, by hand) on these: groups as deep sort by
#: ansible_group_priority, then by name (`zz` over `aa` wherever they are written), and a
#: group under `all:` is as deep as one at the top.
ORDER_EXPECTED = {
    "h1": {"user": "zz", "port": 2001}, "h2": {"user": "zz", "port": 2001},
    "h3": {"user": "high", "port": 2010},
}, {
    "y1": {"user": "mm", "port": 2200}, "y2": {"user": "leaf", "port": 2200},
}


@pytest.mark.parametrize(("name", "text", "expected"), [
    ("o.ini", ORDER_INI, ORDER_EXPECTED[0]), ("o.yaml", ORDER_YAML, ORDER_EXPECTED[1])])
def test_a_hosts_groups_merge_by_depth_priority_and_name_as_ansible_does(
        tmp_path: Path, name: str, text: str, expected: dict[str, dict[str, object]]) -> None:
    """Before: groups as deep merged in file order and the priority was ignored, so h1 logged
    in as `aa` where Ansible logs in as `zz`."""
    (tmp_path / name).write_text(text)
    inv = load_inventories([tmp_path / name])
    assert {h: inv.connection(h) for h in inv.hosts_of("all")} == expected


def test_a_group_priority_that_is_no_number_names_the_line(tmp_path: Path) -> None:
    (tmp_path / "h.ini").write_text("[web]\nw1\n[web:vars]\nansible_group_priority=high\n")
    with pytest.raises(ConfigError, match="h.ini:4: ansible_group_priority must be a whole "
                                          "number, not 'high'"):
        load_inventories([tmp_path / "h.ini"])


@pytest.mark.parametrize(("name", "text", "message"), [
    ("h.ini", "[web]\nweb-1\n[db:children\nweb\n",
     "h.ini:3: a section header must end with ']': '[db:children'"),
    ("h.ini", "[web:vars]\nbad name = 1\n", "h.ini:2: 'bad name' is not a variable name"),
    ("h.ini", "[web]\nw1\n[web:chidren]\nx\n",  # config12: no did-you-mean
     "h.ini:3: unknown section kind 'chidren' (expected vars or children) (did you mean "
     "[web:children]?)"),
    ("h.yaml", "web:\n  hosts:\n    a: just-a-string\n",
     "h.yaml:3:8: group 'web': host 'a' must map variables to values"),
    ("h.yaml", "web:\n  hosts:\n    a: {ansible_user: [ops]}\n",  # it logged in as "['ops']"
     "h.yaml:3:23: group 'web', host 'a': ansible_user must be one value, not a list (['ops'])"),
    ("h.yaml", "web:\n  host:\n    w1:\n", "h.yaml:2:3: unknown key 'host' in group 'web' "
                                          "(did you mean 'hosts'?)"),
    ("h.yaml", "web:\n  hosts:\n    w-[01-12]:\n",
     "h.yaml:3:5: group 'web': [01-12] is not a range: a range is written [01:12] or [a:f], "
     "a ':' between start and end"),
    ("h.yaml", "web:\n  vars:\n    ansible_user: ok\n    bad name: 1\n",
     "h.yaml:4:5: group 'web': 'bad name' is not a variable name"),
    ("h.yaml", "web:\n  vars: [ansible_user]\n",
     "h.yaml:2:9: group 'web': vars must be a mapping (name: …), not a list"),
    # As ansible-inventory refuses them: a typo in a vars header changed every host's login,
    # one in a children list dropped that group's hosts, both without a word
    ("h.ini", "[web]\nw1\n[wbe:vars]\nansible_user=deploy\n",
     "h.ini:3: section [wbe:vars] is for an undefined group 'wbe' (declare it with [wbe] or "
     "[wbe:children]) (did you mean 'web'?)"),
    ("h.ini", "[prod:children]\nweb\ndbs\n[web]\nw1\n[db]\nd1\n",
     "h.ini:3: section [prod:children] names an undefined group 'dbs' (declare it with [dbs] "
     "or [dbs:children]) (did you mean 'db'?)"),
    ("h.ini", "[ web ]\nw1\n", "h.ini:1: section '[ web ]': ' web ' is no group name (a group "
                              "name has no spaces)"),
    ("h.ini", "[g:children]\nweb extra\n", "h.ini:2: 'web extra' is no group name (a group "
                                            "name has no spaces)"),
    # `;` starts no comment after a header or a child's name, for ansible-inventory either
    ("h.ini", "[web] ; the front\nw1\n", "h.ini:1: a section header must end with ']' (a "
                                         "comment after it starts with '#'): '[web] ; the front'"),
    ("h.ini", "[web]\nw1\n[g:children]\nweb ; the front\n",
     "h.ini:4: 'web ; the front' is no group name (a group name has no spaces)"),
    # a loop of children was "inventory group 'a' is its own child", with no file or line
    ("h.ini", "[web]\nw1\n[a]\n[b]\n[a:children]\nb\n[b:children]\na\n",
     "h.ini:8: adding group 'a' as a child of 'b' makes a loop of children"),
    ("h.yaml", "web:\n  hosts: {w1: }\n  children:\n    web:\n      hosts: {w2: }\n",
     "h.yaml:4:5: adding group 'web' as a child of 'web' makes a loop of children"),
    # config7: each line's range was bounded, the file's hosts not (20 lines: 18 s, 1.6 GB)
    ("h.ini", "[web]\n" + "".join(f"h{i}-[1:60000]\n" for i in range(20)),
     "h.ini:3: the inventory names more than 100,000 hosts"),
    ("h.yaml", "web:\n  hosts:\n" + "".join(f"    h{i}-[1:60000]:\n" for i in range(20)),
     "h.yaml:4:5: group 'web': the inventory names more than 100,000 hosts"),
    # fleets16: `2.5:` was the host 2.5 (2.0.0.5), `~:` one named "~"; Ansible refuses them
    ("h.yaml", "web:\n  hosts:\n    web-1:\n    2.5:\n", "h.yaml:4:5: group 'web': host "
     "'2.5' must be a string, and YAML reads it as a number, true/false, null or date: quote "
     "it (\"2.5\":)"),
    ("h.yaml", "web:\n  hosts:\n    web-1:\n    ~: {ansible_host: h}\n", "h.yaml:4:5: group "
     "'web': host '~' must be a string, and YAML reads it as a number, true/false, null or "
     "date: quote it (\"~\":)"),
    ("h.yaml", "web:\n  hosts: {web-1: , yes: }\n", "h.yaml:2:20: group 'web': host 'yes' "
     "must be a string, and YAML reads it as a number, true/false, null or date: quote it "
     "(\"yes\":)"),
])
def test_inventory_mistakes_name_the_inventory_line(tmp_path: Path, name: str, text: str,
                                                    message: str) -> None:
    """Before: a bad port was Python's "invalid literal for int()" at the orch.yaml line, and
    '[db:children' (no closing bracket) silently became a host named '[db:children'."""
    (tmp_path / name).write_text(text)
    with pytest.raises(ConfigError) as err:
        load_inventories([tmp_path / name]).connection("web-1")
    assert str(err.value).endswith(message), str(err.value)


@pytest.mark.parametrize(("name", "text", "group", "message"), [
    ("h.ini", "[web]\nweb-1 ansible_port=notaport\n", "web",
     "h.ini:2: inventory host 'web-1': ansible_port must be a port number (1-65535), not "
     "'notaport'"),
    ("h.ini", "[web]\nweb-1\n[web:vars]\nansible_port=70000\n", "web",
     "h.ini:4: inventory host 'web-1': ansible_port must be a port number (1-65535), not 70000"),
    ("h.ini", "[web]\nq ansible_ssh_port=http\n", "web",
     "h.ini:2: inventory host 'q': ansible_ssh_port must be a port number (1-65535), not 'http'"),
    ("h.yaml", "web:\n  hosts:\n    a: {ansible_port: 99999}\n", "web",
     "h.yaml:3: inventory host 'a': ansible_port must be a port number (1-65535), not 99999"),
    ("h.yaml", "all:\n  children:\n    web:\n      hosts: {w1: }\n    db:\n      hosts:\n"
               "        d1:\n          ansible_user: ops\n          ansible_port: http\n", "db",
     "h.yaml:9: inventory host 'd1': ansible_port must be a port number (1-65535), not "
     "'http'"),
    # fleets16: a digit that is no decimal one ("²") was int()'s own error, whatever the host
    ("h.yaml", "web:\n  hosts:\n    a: {ansible_port: \"\u00b2\"}\n", "web",
     "h.yaml:3: inventory host 'a': ansible_port must be a port number (1-65535), not "
     "'\u00b2'"),    # fleets16: a port written `name:port`, and a bad name, were said without their line
    ("h.ini", "[web]\nok\n\nweb-1:99999\n", "web", "h.ini:4: inventory host 'web-1': "
     "ansible_port must be a port number (1-65535), not 99999"),
    ("h.ini", "[web]\nok\nh/1\n", "web", "h.ini:3: inventory host 'h/1': it has '/'"),
    ("h.yaml", "web:\n  hosts:\n    ok:\n    -h1:\n", "web", "h.yaml:4: inventory host "
     "'-h1': it starts with '-'"),
])
def test_a_bad_port_of_a_named_host_is_refused_at_its_line(tmp_path: Path, name: str, text: str,
                                                           group: str, message: str) -> None:
    """Before: Python's "invalid literal for int()" at the orch.yaml line. fleets11 F4: it was
    refused wherever it was, so one odd host that no environment names (ansible-inventory
    takes it) stopped every environment; it is refused for a host that is reached."""
    (tmp_path / name).write_text(text)
    env = "environments:\n  %s:\n    layers:\n      - {type: ssh, config: {host: 'group:%s'}}\n"
    (tmp_path / "orch.yaml").write_text(f"inventory: [{name}]\n" + env % ("e", group)
                                        + "services: {}\n")
    with pytest.raises(ConfigError) as err:
        load_config(tmp_path / "orch.yaml")
    assert f"{tmp_path}/{message}" in str(err.value), str(err.value)
    (tmp_path / "other.ini").write_text("[fine]\nf1\n")
    (tmp_path / "orch.yaml").write_text(f"inventory: [{name}, other.ini]\n"
                                        + env % ("e", "fine") + "services: {}\n")
    assert load_config(tmp_path / "orch.yaml").environments["e"].is_fleet


def test_each_config_file_reads_its_own_inventory(tmp_path: Path) -> None:
    """api4: with `-c m1.yaml -c m2.yaml`, m1's `group:web` took m2's web hosts too: a second
    file silently widened an environment of the first."""
    write = {"i1.ini": "[web]\nh1\n", "i2.ini": "[web]\nh2\n",
             "m1.yaml": "inventory: i1.ini\nenvironments:\n  a: [{type: ssh, config: "
                        "{host: 'group:web'}}]\n",
             "m2.yaml": "inventory: i2.ini\nenvironments:\n  b: [{type: ssh, config: "
                        "{host: 'group:web'}}]\n",
             "m3.yaml": "environments:\n  c: [{type: ssh, config: {host: 'group:web'}}]\n"}
    for name, text in write.items():
        (tmp_path / name).write_text(text)

    def hosts(*files: str) -> dict[str, list[str]]:
        cfg = load_config(*(tmp_path / f for f in files))
        return {e: [t.label for t in expand(cfg.environment(e).layers)]
                for e in cfg.environments}

    assert hosts("m1.yaml", "m2.yaml") == {"a": ["h1"], "b": ["h2"]}
    assert hosts("m2.yaml", "m3.yaml") == {"b": ["h2"], "c": ["h2"]}  # the one inventory
    with pytest.raises(ConfigError, match=r"m3.yaml:2:34: host 'group:web': this file has no "
                                          r"`inventory:`, and several config files have one"):
        hosts("m1.yaml", "m2.yaml", "m3.yaml")


def test_an_inventory_that_is_a_folder_or_not_text_is_named(tmp_path: Path) -> None:
    (tmp_path / "dir.ini").mkdir()
    (tmp_path / "bin.ini").write_bytes(b"[web]\n\xc9\x00")
    for name, message in (("dir.ini", f"inventory file '{tmp_path}/dir.ini' is a directory"),
                          ("bin.ini", f"{tmp_path}/bin.ini:2: inventory file is not UTF-8 "
                                      f"text (byte 0xc9 at offset 6)")):
        cfg = tmp_path / "orch.yaml"
        cfg.write_text(f"inventory: {name}\nenvironments:\n"
                       f"  f: {{layers: [{{type: ssh, config: {{host: 'group:web'}}}}]}}\n")
        with pytest.raises(ConfigError) as err:
            load_config(cfg)
        assert message in str(err.value), str(err.value)


def test_a_quoted_port_in_a_yaml_inventory_is_a_port(tmp_path: Path) -> None:
    (tmp_path / "h.yaml").write_text("web:\n  hosts:\n    a: {ansible_port: '2222'}\n")
    assert load_inventories([tmp_path / "h.yaml"]).connection("a") == {"port": 2222}


def test_group_hosts_in_an_ssh_layer(tmp_path: Path) -> None:
    (tmp_path / "hosts.ini").write_text(INI)
    (tmp_path / "orch.yaml").write_text(
        "inventory: [hosts.ini]\nenvironments:\n  f:\n    layers:\n"
        "      - {type: ssh, config: {host: 'group:db', user: mine}}\n")
    env = load_config(tmp_path / "orch.yaml").environment("f")
    targets = expand(env.layers)
    assert [t.label for t in targets] == ["db-a", "db-b"]
    config = targets[0].layers[0].config
    assert (config.host, config.user, config.port) == ("127.0.0.5", "mine", 2022)
    (tmp_path / "orch.yaml").write_text(
        "inventory: [hosts.ini]\nenvironments:\n  f:\n    layers:\n"
        "      - {type: ssh, config: {host: 'group:dbs'}}\n")
    with pytest.raises(ConfigError, match=r"orch.yaml:5.*unknown inventory group 'dbs'"):
        load_config(tmp_path / "orch.yaml")


@pytest.mark.parametrize(("limit", "kept"), [
    ("web-0*", ["web-01", "web-02", "web-03"]),
    ("web-01,db-1", ["web-01", "db-1"]),
    ("*,!web-02", ["web-01", "web-03", "db-1"]),
    ("web-*,&*3", ["web-03"]),
    (None, ["web-01", "web-02", "web-03", "db-1"]),
    # a range as the config writes one, not a glob's character class ("0, : or 3")
    ("web-[01:02]", ["web-01", "web-02"]),
    ("web-0[2:3],db-1", ["web-02", "web-03", "db-1"]),
    ("!web-[01:02]", ["web-03", "db-1"]),
    ("web-0[13]", ["web-01", "web-03"]),  # no colon: a character class, as before
    ("web-[0:0][2-3]", ["web-02", "web-03"]),  # a range and a character class in one pattern
    # colons separate patterns too, as in Ansible; not the one inside a range
    ("web-0*:!web-02", ["web-01", "web-03"]),
    ("web-[01:02]:db-1", ["web-01", "web-02", "db-1"]),
    ("*:&*3", ["web-03"]),
])
def test_limit_patterns(limit: str | None, kept: list[str]) -> None:
    assert select(["web-01", "web-02", "web-03", "db-1"], limit) == kept


@pytest.mark.parametrize(("limit", "groups", "kept"), [
    ("127.0.1.1:127.0.1.2:127.0.1.3", {}, ["127.0.1.1", "127.0.1.2", "127.0.1.3"]),
    ("db:cafe:ad", {"127.0.1.1": ["db"], "127.0.1.4": ["cafe"], "127.0.1.5": ["ad"]},
     ["127.0.1.1", "127.0.1.4", "127.0.1.5"]),
])
def test_a_colon_list_that_is_no_ipv6_address_is_split(limit: str, groups: dict[str, list[str]],
                                                       kept: list[str]) -> None:
    """Three addresses, or group names of hex letters, were taken for one IPv6 pattern and
    refused as matching nothing; Ansible splits them, as it does two (held-out tester)."""
    labels = [f"127.0.1.{i}" for i in range(1, 6)]
    assert select(labels, limit, groups) == kept


@pytest.mark.parametrize(("limit", "kept"), [
    ("!2001:db8::5", ["2001:db8::6", "2001:db8::6/app-1"]),
    ("2001:db8::*", ["2001:db8::5", "2001:db8::6", "2001:db8::6/app-1"]),
    ("2001:db8::6/app-1", ["2001:db8::6/app-1"]),
    ("&2001:db8::6*", ["2001:db8::6", "2001:db8::6/app-1"]),
    ("2001:db8::5,2001:db8::6/*", ["2001:db8::5", "2001:db8::6/app-1"]),
    ("2001:db8::[5:6]", ["2001:db8::5", "2001:db8::6", "2001:db8::6/app-1"]),
])
def test_an_ipv6_limit_is_not_split_at_its_colons(limit: str, kept: list[str]) -> None:
    """Colons separate patterns (`web:!db`), but not those of an IPv6 address (review)."""
    labels = ["2001:db8::5", "2001:db8::6", "2001:db8::6/app-1"]
    assert select(labels, limit) == kept


def test_a_wide_limit_range_is_looked_up_not_matched_name_by_name() -> None:
    """65,024 names: each was a glob matched against every label (minutes, Python's pattern
    cache overflowing); names without a glob character are looked up."""
    labels = [f"10.0.{a}.{b}" for a in range(4) for b in range(1, 11)]
    assert select(labels, "10.0.[0:255].[1:254],!10.0.[1:3].[2:10]") == [
        *labels[:10], "10.0.1.1", "10.0.2.1", "10.0.3.1"]


@pytest.mark.parametrize("limit", ["!!web-01", "web-0*,!&web-01", "&&web-01", "&!web-01"])
def test_a_doubled_limit_prefix_is_an_error_not_a_pattern_that_matches_nothing(limit: str) -> None:
    """fleets5: `!!web-01` excluded the name "!web-01" (no target), while the check that a
    pattern matches something looked at "web-01": the run went to web-01."""
    with pytest.raises(ConfigError, match=r"a pattern takes one '!' \(exclude\) or '&' "
                                          r"\(intersect\) in front, not two"):
        select(["web-01", "web-02"], limit)


def test_a_limit_range_written_wrong_is_an_error() -> None:
    with pytest.raises(ConfigError, match=r"limit pattern 'web-\[3:1x\]': range \[3:1x\]"):
        select(["web-01", "web-02"], "web-[3:1x]")
    # a range left open matched nothing and said "did you mean '127.0.1.13'?" (fleets6)
    for limit in ("127.0.1.[1:3", "127.0.1.1,127.0.1.[2:3", "web-[ab"):
        with pytest.raises(ConfigError, match=r"a '\[' is not closed \(a range is written"):
            select(["127.0.1.1", "127.0.1.13", "web-a"], limit)


def test_a_target_named_as_a_limit_operator_is_said_how_to_select_it() -> None:
    """fleets17: an inventory host `!neg` (Ansible takes it) got "did you mean '!neg'?" for
    `--limit '!neg'`, and that suggestion gave the same error again."""
    targets = ["web-1", "!neg", "xneg", "&and"]
    with pytest.raises(ConfigError) as err:
        select(targets, "!neg")
    assert str(err.value) == ("limit pattern '!neg' matches no target: a leading '!' is read "
                              "as 'not'; the target named so is selected by '[\\!]neg'")
    assert select(targets, "[\\!]neg") == ["!neg"]  # not xneg too (review26: `?neg` did)
    with pytest.raises(ConfigError, match=r"selected by '\[&\]and'$"):
        select(targets, "&and")
    assert select(targets, "[&]and") == ["&and"]


def test_limit_that_matches_nothing_says_what_there_is() -> None:
    with pytest.raises(ConfigError, match="'web-1' matches no target.*did you mean 'web-01'"):
        select(["web-01", "web-02"], "web-1")
    # a host's short name for its full one (s8-fleet #6: five edits away, no suggestion)
    with pytest.raises(ConfigError, match="'web-03' matches no target.*did you mean "
                                          "'web-03.prod.example.com'"):
        select(["b/web-01.prod.example.com", "b/web-03.prod.example.com"], "web-03")
    with pytest.raises(ConfigError) as err:  # an address's first number is no short name
        select(["10.0.0.1", "10.0.0.2"], "10")
    assert "did you mean '10.0.0.1'" not in str(err.value)
    assert select(["bastion/db-1", "bastion/db-2"], "db-1") == ["bastion/db-1"]
    # fleets15: the whole label, its inner host by its short name
    two = ["bast-eu/db-1.internal", "bast-eu/db-2.internal", "bast-us/db-1.internal"]
    with pytest.raises(ConfigError, match="'bast-eu/db-1' matches no target.*did you mean "
                                          "'bast-eu/db-1.internal'"):
        select(two, "bast-eu/db-1")
    # fleets10: a typo of a part of a label (a container on every host) got no suggestion
    with pytest.raises(ConfigError, match="'few-aa' matches no target.*did you mean 'few-a'"):
        select(["127.0.1.1/few-a", "127.0.1.2/few-a", "127.0.1.1/few-b"], "few-aa")
    # an exclusion with a typo ran on every target, the one it was to protect included
    for limit in ("!web-O2", "web-*,!web-O2", "&web-O2"):
        with pytest.raises(ConfigError, match=rf"pattern '{limit.split(',')[-1]}' matches no "
                                              rf"target \(targets: web-01, web-02\).*did you "
                                              rf"mean 'web-02'"):
            select(["web-01", "web-02"], limit)


def test_orch_ls_shows_counts_and_labels(tmp_path: Path, capsys) -> None:
    (tmp_path / "orch.yaml").write_text(
        "environments:\n  f:\n    layers: [{type: ssh, config: {host: 'web-[01:12]'}}]\n"
        "  one:\n    layers: []\n")
    assert main(["-c", str(tmp_path / "orch.yaml"), "ls"]) == 0
    out = capsys.readouterr().out
    assert "12 targets: web-01, web-02" in out and "web-12" in out
    assert out.count("targets:") == 1


@pytest.mark.parametrize("environment", ["f", "one"])
def test_a_bad_timeout_is_a_usage_error_before_a_fleet_starts(tmp_path: Path, capsys,
                                                              environment: str) -> None:
    """Before: on a fleet, each of its targets ran and failed with this, exit 1 (a protected
    fleet asked for its name first); a single-target run said it before anything."""
    (tmp_path / "orch.yaml").write_text(
        "environments:\n  f:\n    protected: true\n"
        "    layers: [{type: ssh, config: {host: 'w[1:2]'}}]\n  one:\n    layers: []\n")
    assert main(["-c", str(tmp_path / "orch.yaml"), "run", environment, "--timeout", "0",
                 "--", "true"]) == 2
    captured = capsys.readouterr()
    assert captured.err.startswith("orch: config error: timeout must be a positive number of "
                                   "seconds (at most 1e+09), not 0.0"), captured
    assert "targets" not in captured.out + captured.err


def test_fleet_options_on_one_target_are_an_error(tmp_path: Path, capsys) -> None:
    (tmp_path / "orch.yaml").write_text("environments:\n  one:\n    layers: []\n")
    assert main(["-c", str(tmp_path / "orch.yaml"), "run", "one", "--limit", "x", "--",
                 "true"]) == 2
    assert "has one target" in capsys.readouterr().err


@pytest.mark.parametrize("words", [["run", "f", "--limit", "!w2", "--limit", "w*", "--", "true"],
                                   ["cp", "f:/x", "/tmp/x", "--limit", "w1", "--limit", "w2"],
                                   ["forward", "f", "80", "--limit", "w1", "--limit", "w2"]])
def test_a_second_limit_is_refused_not_put_in_place_of_the_first(
        tmp_path: Path, capsys, words: list[str]) -> None:
    """api4: `--limit '!w2' --limit 'w*'` ran on w2, the host the first one left out."""
    (tmp_path / "orch.yaml").write_text(
        "environments:\n  f: [{type: ssh, config: {host: 'w[1:3]'}}]\n")
    with pytest.raises(SystemExit) as exited:  # argparse's usage error, as from the shell
        main(["-c", str(tmp_path / "orch.yaml"), *words])
    assert exited.value.code == 2
    assert capsys.readouterr().err.splitlines()[-1].endswith(
        "error: argument --limit: given twice: give it once, with every pattern in it, joined "
        "by commas ('web-*,!web-03')")



@pytest.mark.parametrize("option", [["--timeout", "5", "--timeout", "50"],
                                    ["--parallel", "2", "--parallel", "3"],
                                    ["--max-fail", "1", "--max-fail", "2"]])
def test_a_second_single_option_is_refused_too(tmp_path: Path, capsys,
                                               option: list[str]) -> None:
    """magics13: the last of two values won in silence (a timeout of 50 where 5 was meant)."""
    (tmp_path / "orch.yaml").write_text(
        "environments:\n  f: [{type: ssh, config: {host: 'w[1:3]'}}]\n")
    with pytest.raises(SystemExit) as exited:
        main(["-c", str(tmp_path / "orch.yaml"), "run", "f", *option, "--", "true"])
    assert exited.value.code == 2
    assert capsys.readouterr().err.splitlines()[-1].endswith(
        f"error: argument {option[0]}: given twice: give it once")


@pytest.mark.parametrize("given", [{"limit": "x"}, {"parallel": 2}, {"max_fail": 1},
                                   {"tail": 3}])
def test_fleet_keywords_on_one_target_are_an_error_before_it_starts(
        tmp_path: Path, given: dict[str, object]) -> None:
    """docs/api.md: on a one-target environment any fleet keyword is a ConfigError (inputs #6:
    `start(..., tail=3)` ran)."""
    orch = Orchestrator(load_config_text("environments:\n  one: []\n"), log_dir=tmp_path)
    try:
        with pytest.raises(ConfigError, match="'one' has one target"):
            orch.start("one", command=f"touch {tmp_path}/ran", **given)  # type: ignore[arg-type]
    finally:
        orch.close()
    assert not (tmp_path / "ran").exists()


@pytest.mark.parametrize(("name", "text"), [("inv.ini", INI), ("inv.yaml", YAML)])
def test_limit_selects_inventory_groups_at_any_position(tmp_path: Path, name: str,
                                                        text: str) -> None:
    (tmp_path / name).write_text(text)
    (tmp_path / "orch.yaml").write_text(
        f"inventory: [{name}]\nenvironments:\n  f:\n    layers:\n"
        "      - {type: ssh, config: {host: [b-eu, b-us]}}\n"
        "      - {type: ssh, config: {host: 'group:prod'}}\n")
    targets = expand(load_config(tmp_path / "orch.yaml").environment("f").layers)
    labels = [t.label for t in targets]
    groups = {t.label: t.groups for t in targets}
    assert select(labels, "db", groups) == ["b-eu/db-a", "b-eu/db-b", "b-us/db-a", "b-us/db-b"]
    assert select(labels, "b-us,&web,!special", groups) == [
        "b-us/web-01.example", "b-us/web-02.example", "b-us/web-03.example"]
    assert select(labels, "all", groups) == labels
    with pytest.raises(ConfigError, match=r"groups: db, prod, web.*did you mean 'web'"):
        select(labels, "wab", groups)


def test_the_magic_dry_run_shows_the_targets_the_limit_keeps(tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]
                                                             ) -> None:
    from IPython.core.error import UsageError

    from shells import orch_shell

    config = ("environments:\n  web: {layers: [{type: ssh, config: {host: 'w-[1:3]'}}]}\n"
              "services:\n  hi: {command: echo hi}\n")
    with orch_shell(config, tmp_path) as sh:
        assert sh.run_line_magic("orch", "web hi --dry-run --limit !w-2") is None
        assert "targets:     2 targets: w-1, w-3" in capsys.readouterr().out
        with pytest.raises(UsageError, match="'x-\\*' matches no target"):
            sh.run_line_magic("orch", "web hi --dry-run --limit x-*")


def _inventory_env(tmp_path: Path, name: str, inventory: str, layer: str = "") -> object:
    (tmp_path / name).write_text(inventory)
    text = (f"inventory: [{tmp_path / name}]\nenvironments:\n  f:\n    layers:\n"
            f"      - {{type: ssh, config: {{host: 'group:web'{layer}}}}}\n")
    return load_config_text(text).environment("f")


def test_an_inventory_hosts_user_and_port_are_its_own(tmp_path: Path) -> None:
    """`ansible_user`/`ansible_port` of the first host became every later host's (and the
    first host's group vars every other group's): w2 logged in as w1's user, on w1's port."""
    env = _inventory_env(tmp_path, "inv.ini", """\
[web]
w1 ansible_host=127.0.1.1 ansible_port=40547 ansible_user=deploy
w2 ansible_host=127.0.1.2
w3 ansible_host=127.0.1.3 ansible_user=other
""")
    seen = {t.label: (t.layers[0].config.host, t.layers[0].config.user, t.layers[0].config.port)
            for t in expand(env.layers)}
    assert seen == {"w1": ("127.0.1.1", "deploy", 40547), "w2": ("127.0.1.2", None, None),
                    "w3": ("127.0.1.3", "other", None)}  # None: ssh's own (~/.ssh/config, 22)
    env = _inventory_env(tmp_path, "inv.ini", "[web]\nw1 ansible_user=deploy\nw2\n",
                         layer=", user: ops, port: 2200")  # the layer's own values for the rest
    assert [(t.layers[0].config.user, t.layers[0].config.port) for t in expand(env.layers)] \
        == [("ops", 2200), ("ops", 2200)]  # a value the layer sets wins, as before


def test_ini_values_comments_and_yaml_without_a_suffix_read_as_ansible_reads_them(
        tmp_path: Path) -> None:
    ini = """\
[web]   # the front
w1 ansible_user="quoted"
[web:vars]
ansible_port="2222"
[prod:children]
web  # the front
"""
    (tmp_path / "hosts").write_text(ini)
    inv = load_inventories([tmp_path / "hosts"])
    assert inv.hosts_of("prod") == ["w1"]  # the child was a group called 'web  # the front'
    assert inv.connection("w1") == {"user": "quoted", "port": 2222}  # quotes were kept
    (tmp_path / "odd.ini").write_text("[web]\nw2 ansible_user=1234 ansible_host=127.1 "
                                      "x={[]:1}\n")  # once a TypeError, and int/float values
    assert load_inventories([tmp_path / "odd.ini"]).connection("w2") == {
        "user": "1234", "host": "127.1"}
    (tmp_path / "inventory").write_text("web:\n  hosts:\n    y1: {ansible_port: 2201}\n")
    assert load_inventories([tmp_path / "inventory"]).connection("y1") == {"port": 2201}


@pytest.mark.parametrize(("text", "message"), [
    ("web:\n  hosts: [a, b]\n", "group 'web': hosts must be a mapping (name: …), not a list"),
    ("web:\n  children: [db]\n", "group 'web': children must be a mapping (name: …), not a list"),
    ("web:\n  vars: [x]\n", "group 'web': vars must be a mapping (name: …), not a list"),
])
def test_a_yaml_inventory_of_the_wrong_shape_is_a_config_error(tmp_path: Path, text: str,
                                                               message: str) -> None:
    """Lists where mappings belong were an internal error (AttributeError)."""
    (tmp_path / "inv.yaml").write_text(text)
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_inventories([tmp_path / "inv.yaml"])


def test_a_big_inventory_group_names_every_host_with_its_groups(tmp_path: Path) -> None:
    """Each host looked up every group's hosts again: 1,000 hosts took 26 s, 4,000 minutes."""
    lines = [f"[part{p}]\n" + "".join(f"h{p}-{i} ansible_port={1000 + i}\n" for i in range(800))
             for p in range(5)]
    lines.append("[web:children]\n" + "".join(f"part{p}\n" for p in range(5)))
    env = _inventory_env(tmp_path, "big.ini", "".join(lines))
    targets = expand(env.layers)
    assert len(targets) == 4000 and targets[-1].label == "h4-799"
    assert targets[-1].groups == frozenset({"all", "part4", "web"})
    assert targets[-1].layers[0].config.port == 1799


def test_a_label_layer_does_not_lift_the_target_limit() -> None:
    """A label layer counted as 0 targets, so any product with it passed the limit."""
    with pytest.raises(ConfigError, match=r"fans out to 1,000,000 targets \(at most 100,000\)"):
        load_config_text("environments:\n  f:\n    layers:\n"
                         "      - {type: ssh, config: {host: 'a[1:1000]'}}\n"
                         "      - {type: ssh, config: {host: 'b[1:1000]'}}\n"
                         "      - {type: docker, config: {label: app=web}}\n")


@pytest.mark.parametrize(("options", "message"), [
    (dict(parallel="4"), "parallel (--parallel) must be a whole number, at least 1, not '4'"),
    (dict(parallel=2.5), "parallel (--parallel) must be a whole number, at least 1, not 2.5"),
    (dict(parallel=0), "parallel (--parallel) must be a whole number, at least 1, not 0"),
    (dict(max_fail=[1]), "max_fail (--max-fail) takes a count (0 or more) or a percentage (3, 10%), not [1]"),
    (dict(max_fail=1.5), "max_fail (--max-fail) takes a count (0 or more) or a percentage"),
    (dict(max_fail="150%"), "max_fail (--max-fail) takes a count or a percentage (3, 10%), not '150%'"),
    (dict(limit=["web-1"]), "limit takes patterns in one str ('web-*,!web-03'), not list"),
    (dict(timeout=0), "timeout must be a positive number of seconds (at most 1e+09), not 0"),
    (dict(timeout=-1), "timeout must be a positive number of seconds (at most 1e+09), not -1"),
    (dict(timeout=float("inf")), "timeout must be a positive number of seconds"),
    (dict(timeout=float("nan")), "timeout must be a positive number of seconds"),
])
def test_fleet_keywords_of_the_api_are_checked(options: dict, message: str) -> None:
    """parallel='4', max_fail=[1] and limit=[…] were TypeErrors; 2.5 and 1.5 were taken; a
    timeout of 0 ran the fleet and failed every row with this message."""
    from orch_magics import Orchestrator

    o = Orchestrator(load_config_text(
        "environments:\n  f:\n    layers: [{type: ssh, config: {host: 'w[1:2]'}}]\n"))
    with pytest.raises(ConfigError, match=re.escape(message)):
        o.run("f", command="true", **options)


@pytest.mark.parametrize(("limit", "message"), [
    ("nothing*", "limit pattern 'nothing*' matches no target (targets: w1, w2)"),
    ("w*,!w*", "limit 'w*,!w*' leaves no target"),
    ("~w[", "limit pattern '~w[' is not a valid regular expression"),
    (",", "limit ',' names no pattern"),
])
def test_a_limit_keyword_of_the_api_is_named_as_the_keyword(limit: str, message: str) -> None:
    """`limit=` is no command-line option: its errors said `--limit pattern …` (api3)."""
    from orch_magics import Orchestrator

    o = Orchestrator(load_config_text(
        "environments:\n  f:\n    layers: [{type: ssh, config: {host: 'w[1:2]'}}]\n"))
    with pytest.raises(ConfigError) as err:
        o.run("f", command="true", limit=limit)
    assert str(err.value).startswith(message) and "--" not in str(err.value), err.value


def test_a_fleet_results_methods_check_their_keywords() -> None:
    """api4: `res.rerun(yse="web")` was Python's TypeError, with no word of yes=."""
    from orch_magics import FleetResult
    from orch_magics.errors import UnknownArgument

    res = FleetResult("web", {}, {})
    for call, said in ((lambda: res.rerun(yse="web"), "rerun() takes no argument 'yse' (did "
                                                      "you mean yes=?)"),
                       (lambda: res.table(width=5), "table() takes no argument 'width'")):
        with pytest.raises(UnknownArgument, match=re.escape(said)) as err:
            call()
        assert isinstance(err.value, ConfigError) and isinstance(err.value, TypeError)


def test_a_label_fleet_whose_engine_cannot_be_reached_names_its_selector(tmp_path: Path) -> None:
    """Its one row had an empty label: a blank TARGET cell, the key '' in --json."""
    from orch_magics import Orchestrator

    o = Orchestrator(load_config_text(
        f"environments:\n  f:\n    layers: [{{type: docker, config: {{label: app=web, "
        f"docker_host: 'unix://{tmp_path}/no-engine.sock'}}}}]\naudit: {{enabled: false}}\n"))
    try:
        res = o.run("f", command="true")
    finally:
        o.close()
    assert list(res.states.items()) == [("label app=web", "failed")]
    assert "no-engine.sock" in res.causes["label app=web"]


def test_the_summary_of_no_target_and_the_width_of_wide_labels() -> None:
    from orch_magics.fleet.result import FleetResult
    from orch_magics.text import columns as _columns

    assert FleetResult("e", {}, {}).summary() == "0 targets"  # was '0 targets: '
    assert (_columns("web-01"), _columns("東京-01"), _columns("é"), _columns("e\u0301")) == \
        (6, 7, 1, 1)
    # Thai vowel and tone marks (Mn, combining class 0) sit on the letter before them:
    # 'ที่นี่' is 6 code points in 2 columns (was counted 4, shifting the columns after it)
    assert _columns("ที่นี่") == 2


def test_a_limit_keeps_the_rows_of_hosts_whose_containers_could_not_be_listed() -> None:
    """s8-fleet #2 and its review: a host whose containers could not be listed keeps its
    (failed) row when the limit would keep one of its containers, judged by the names found
    elsewhere or named by the limit; a limit on the hosts still applies."""
    from orch_magics.fleet.targets import Target, limited_reached

    text = ("environments:\n  e:\n    layers:\n"
            "      - {type: ssh, config: {host: [h1, h2, h3]}}\n"
            "      - {type: docker, config: {label: app=web}}\n")
    pending = expand(load_config_text(text).environments["e"].layers)  # as yet unlisted
    assert [t.label for t in pending] == ["h1", "h2", "h3"]
    assert all(t.pending is not None for t in pending)
    listed = [Target("h1/app-01", ()), Target("h1/app-02", ())]  # h1's, found; h2, h3: not
    fleet = [*listed, *pending[1:]]

    def kept(limit: str) -> list[str]:
        return [t.label for t in limited_reached(fleet, limit)]

    assert kept("*/app-01") == kept("app-01") == ["h1/app-01", "h2", "h3"]
    assert kept("h2/app-01") == ["h2"]
    assert kept("*/app-01,!h3") == ["h1/app-01", "h2"]
    assert kept("app-77") == ["h2", "h3"]  # only there, maybe: their rows say why not seen
    assert kept("h2/app-77") == ["h2"]
    # fleets6: a word matching nothing known returned the unreached hosts alone: the targets
    # the other words chose were dropped, and an excluded host kept its row (and its rerun)
    assert kept("app-02,app-77") == ["h1/app-02", "h2", "h3"]
    assert kept("app-02,app-77,!h3") == ["h1/app-02", "h2"]
    for wrong in ("!h3,!app-77", "app-02,!*/app-77"):  # an exclusion protects: never a guess
        with pytest.raises(ConfigError, match="'!.*app-77' matches no target") as err:
            kept(wrong)
        # fleets12: the error listed stand-ins (h2/app-01…) as targets: never found there
        assert "(targets: h1/app-01, h1/app-02, h2, h3)" in str(err.value), str(err.value)
    # review34: an exclusion naming a container of a host that is down waits for the host
    assert kept("*/app-01,!h2/app-01") == ["h1/app-01", "h2", "h3"]
    assert kept("!h2/app-01") == ["h1/app-01", "h1/app-02", "h2", "h3"]
    with pytest.raises(ConfigError, match="'!h1/app-77' matches no target"):
        kept("!h1/app-77")  # h1 answered: a typo there is still one
    # review35: excused while h2 was down, a mistyped exclusion let h2's rerun run the
    # container it was to protect: judged once h2 answers
    assert kept("!h2/app-O1") == ["h1/app-01", "h1/app-02", "h2", "h3"]
    h2_up = [Target("h2/app-01", ()), Target("h2/app-02", ())]
    with pytest.raises(ConfigError, match=r"'!h2/app-O1' matches no target.*'h2/app-01'"):
        limited_reached(h2_up, "!h2/app-O1", lenient=True)
    assert [t.label for t in limited_reached(h2_up, "!h2/app-01,!h3/x", lenient=True)] == [
        "h2/app-02"]  # h3 is not asked for: its word waits
    none_listed = list(pending)
    assert [t.label for t in limited_reached(none_listed, "h1")] == ["h1"]
    assert [t.label for t in limited_reached(none_listed, "h1,app-9")] == ["h1", "h2", "h3"]
    assert [t.label for t in limited_reached(none_listed, "!h2")] == ["h1", "h3"]
    with pytest.raises(ConfigError, match="'app-77' matches no target"):  # all listed: a typo
        limited_reached(listed, "app-77")


def test_a_mistyped_host_in_a_container_limit_is_said_with_the_hosts_there_are() -> None:
    """review34: with every host left out by the limit (its host part mistyped), the error
    read "matches no target (targets: )", with no did-you-mean."""
    from orch_magics.fleet.targets import Target, limited_reached, to_find

    text = ("environments:\n  e:\n    layers:\n"
            "      - {type: ssh, config: {host: [web-1, web-2]}}\n"
            "      - {type: docker, config: {label: app=web}}\n")
    pending = expand(load_config_text(text).environments["e"].layers)
    # review35: once a host's containers were found, the whole word was closer to one of
    # those (another host's), or to a word of the limit itself
    for limit, said in (("web1/app-1", "(targets: web-1, web-2) (did you mean 'web-1/app-1'?)"),
                        ("web-1/*,wbe-2/*", "(did you mean 'web-2/*'?)"),
                        ("web1/app-1,web-2/*", "(did you mean 'web-1/app-1'?)"),
                        ("web-1/app-1,wbe-2/app-1", "(did you mean 'web-2/app-1'?)"),
                        ("web-2/*,!web1/app-1", "(did you mean 'web-1/app-1'?)"),
                        ("web-1/app-1,web-1/app-2", "(targets: web-1/app-1, web-2)")):
        wanted, unseen = to_find(pending, limit)
        found = [Target(f"{t.label}/app-1", ()) for t in wanted]
        with pytest.raises(ConfigError) as err:
            limited_reached(found, limit, unseen)
        assert str(err.value).endswith(said), str(err.value)


def test_a_container_list_beside_a_label_says_to_give_one_of_them() -> None:
    """It said `container must be a string, not a list`, though a list is valid (config7)."""
    with pytest.raises(ConfigError) as err:
        load_config_text("environments:\n  a: [{type: docker, config: {container: [a, b], "
                         "label: x}}]\n")
    assert "give one of container, label, service, not container and label" in str(err.value)


def test_an_inventory_setting_the_layer_overrides_is_not_refused_and_one_used_names_its_line(
        tmp_path: Path) -> None:
    """fleets11 F3: a host's `ansible_user` with a space refused the config although the
    layer's `user:` wins, and a bad user or address was said without the inventory's line."""
    (tmp_path / "hosts.ini").write_text('[web]\nw1\nw5 ansible_user="u x"\n')
    layer = "{type: ssh, config: {host: 'group:web'%s}}"
    text = "inventory: [hosts.ini]\nenvironments:\n  a:\n    layers:\n      - %s\nservices: {}\n"
    (tmp_path / "orch.yaml").write_text(text % (layer % ", user: deploy"))
    config = load_config(tmp_path / "orch.yaml")
    assert [t.layers[0].config.user for t in expand(config.environments["a"].layers)] == \
        ["deploy", "deploy"]
    (tmp_path / "orch.yaml").write_text(text % (layer % ""))
    with pytest.raises(ConfigError, match=re.escape(
            f"{tmp_path}/hosts.ini:3: inventory host 'w5', ansible_user 'u x': it has a space")):
        load_config(tmp_path / "orch.yaml")
    (tmp_path / "hosts.ini").write_text('[web]\nw1\n[web:vars]\nansible_host="a b"\n')
    with pytest.raises(ConfigError, match=re.escape(
            f"{tmp_path}/hosts.ini:4: inventory host 'w1' ('a b'): it has a space")):
        load_config(tmp_path / "orch.yaml")


def test_a_limit_file_is_read_by_every_reader_of_a_limit(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """review21: only a run read `@FILE`; a dry run (and `orch cp`, forwards) took `@retry`
    for a host name and said it matched nothing."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "retry").write_text("web2\n")
    (tmp_path / "orch.yaml").write_text(
        "environments:\n  e:\n    layers:\n      - {type: ssh, config: {host: [web1, web2, "
        "web3]}}\n")
    assert main(["run", "e", "--limit", "@retry", "--dry-run", "--", "true"]) == 0
    assert "targets:     1 target: web2" in capsys.readouterr().out
    config = load_config(tmp_path / "orch.yaml")
    assert [t.label for t in expand(config.environments["e"].layers)
            if t.label in select(["web1", "web2", "web3"], read_limit("@retry"))] == ["web2"]
    # review22: read once where the limit is given; the readers after it (the lookup, the
    # rerun) read no file, so what was confirmed is what runs
    with pytest.raises(ConfigError, match="'@retry': a limit file is read only where a limit "
                                          "is given"):
        select(["web1", "web2", "web3"], "@retry")
    # fleets14: an error names the file the patterns came from, not only the patterns
    with pytest.raises(ConfigError, match=re.escape(
            "limit '@retry,!web*' (read as 'web2,!web*') leaves no target")):
        select(["web1", "web2", "web3"], read_limit("@retry,!web*"))
    (tmp_path / "typo").write_text("web1\nweb9\n")  # basics14: which file held the typo
    with pytest.raises(ConfigError, match=re.escape(
            "limit pattern 'web9' matches no target (targets: web1, web2, web3; from limit "
            "'@retry,@typo')")):
        select(["web1", "web2", "web3"], read_limit("@retry,@typo"))
    (tmp_path / "two").write_text("web1\nweb3\n")
    with pytest.raises(ConfigError, match=re.escape(
            "limit '@two' (read as 'web1,web3') keeps 2 targets: web1, web3; name one")):
        the_one(expand(config.environments["e"].layers), read_limit("@two"))


def test_a_limit_file_is_read_as_text_of_a_bounded_size_one_pattern_a_line(
        tmp_path: Path) -> None:
    """fleets14: `@/dev/zero` ended in a MemoryError, a byte-order mark was part of the first
    pattern, a file not UTF-8 said Python's decode error, an error repeated a 5 MB line whole,
    and a lone `web:!web2` line was split at its colons where, beside another line, it was
    not."""
    labels = ["web1", "web2", "web3"]
    with pytest.raises(ConfigError, match=r"limit file '/dev/zero' \(--limit @/dev/zero\) is "
                                          r"larger than 4 MiB: a limit file holds patterns"):
        read_limit("@/dev/zero")
    (tmp_path / "bom").write_bytes(b"\xef\xbb\xbfweb1\nweb3\n")
    assert select(labels, read_limit(f"@{tmp_path}/bom")) == ["web1", "web3"]
    (tmp_path / "latin").write_bytes(b"web1\nw\xe9b2\n")
    with pytest.raises(ConfigError, match=r"is not UTF-8 text \(byte 0xe9 at offset 6, line 2\)"):
        read_limit(f"@{tmp_path}/latin")
    (tmp_path / "long").write_text("x" * 100_000 + "\n")
    with pytest.raises(ConfigError) as err:
        select(labels, read_limit(f"@{tmp_path}/long"))
    assert len(str(err.value)) < 1000, len(str(err.value))
    (tmp_path / "lone").write_text("web:!web2\n")  # one pattern a line, as Ansible reads it
    (tmp_path / "two").write_text("web:!web2\nweb1\n")
    for name in ("lone", "two"):
        with pytest.raises(ConfigError, match="'web:!web2' matches no target"):
            select(labels, read_limit(f"@{tmp_path}/{name}"))


def test_a_dry_run_of_a_label_fleet_checks_its_limit_as_written(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """fleets13: with containers still to be found, a dry run took `!!x` or `~web[` and said
    it applies once they are found; the run refused them at once."""
    (tmp_path / "orch.yaml").write_text(
        "environments:\n  e:\n    layers:\n      - {type: ssh, config: {host: [h1, h2]}}\n"
        "      - {type: docker, config: {label: app=web}}\n")
    cfg = str(tmp_path / "orch.yaml")
    for limit in ("!!x", "~web["):
        assert main(["-c", cfg, "run", "e", "--limit", limit, "--dry-run", "--", "true"]) == 2
        assert "limit pattern" in capsys.readouterr().err
    assert main(["-c", cfg, "run", "e", "--limit", "h1", "--dry-run", "--", "true"]) == 0
    # review22: a subscript counts containers there: the dry run took it, and a run refused it
    # only once every host had answered (when none did, `all[0]` ran on the first host)
    for limit in ("all[0]", "h*[-1]", "web,!all[1:]", "h*[1-2]"):  # review38: [x-y] too
        assert main(["-c", cfg, "run", "e", "--limit", limit, "--dry-run", "--", "true"]) == 2
        assert "a subscript picks a group's hosts by position" in capsys.readouterr().err
    with Orchestrator(load_config(tmp_path / "orch.yaml")) as orch, pytest.raises(
            ConfigError, match=r"'all\[0\]': a subscript picks a group's hosts by position, "
                               r"and these targets are reached through several layers "
                               r"\(h1/…\): name them \(h1, h1/\*\)"):
        orch.run("e", command="true", limit="all[0]")
    assert main(["-c", cfg, "run", "e", "--limit", "h[12]", "--dry-run", "--", "true"]) == 0
    # fleets14: the containers of one engine are the targets themselves: picked by position
    (tmp_path / "one.yaml").write_text(
        "environments:\n  e:\n    layers:\n      - {type: docker, config: {label: app=web}}\n")
    assert main(["-c", str(tmp_path / "one.yaml"), "run", "e", "--limit", "all[0]",
                 "--dry-run", "--", "true"]) == 0


def test_an_empty_inventory_list_is_none_and_a_list_of_no_paths_is_refused(
        tmp_path: Path) -> None:
    """config13: `inventory: []`, which the schema takes, was refused as not being a list."""
    (tmp_path / "orch.yaml").write_text("inventory: []\nenvironments: {local: []}\n")
    assert load_config(tmp_path / "orch.yaml").inventories == ()
    (tmp_path / "orch.yaml").write_text("inventory: [3]\nenvironments: {local: []}\n")
    with pytest.raises(ConfigError, match=r"orch\.yaml:1:12: inventory must be a file path "
                                          r"or a list of them"):
        load_config(tmp_path / "orch.yaml")


@pytest.mark.parametrize(("files", "said"), [
    ({"h.ini": "[web]\nw1\n", "host_vars/w1": "ansible_user: no\n"},
     "host_vars/w1:1: ansible_user: YAML 1.1 reads no as a boolean (false), not as the text "
     "written: quote it ('no') to keep it exactly"),
    ({"h.yaml": "web:\n  hosts:\n    w1: {ansible_port: 0022}\n"},
     "h.yaml:3:24: group 'web', host 'w1': ansible_port: YAML 1.1 reads 0022 as an integer "
     "(18), not as the text written: quote it ('0022') to keep it exactly"),
    ({"h.yaml": "web:\n  hosts: {w1: }\n  vars:\n    ansible_user: 0700\n"},
     "h.yaml:4:19: group 'web': ansible_user: YAML 1.1 reads 0700 as an integer (448), not as "
     "the text written: quote it ('0700') to keep it exactly"),
])
def test_a_connection_variable_yaml_changed_is_refused_at_its_line(
        tmp_path: Path, files: dict[str, str], said: str) -> None:
    """config14 F9: `ansible_user: no` logged in as `False` and `ansible_port: 0022` dialled
    port 18, where orch's own config refuses what YAML 1.1 changes."""
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_text(text)
    inventory = next(iter(files))
    (tmp_path / "orch.yaml").write_text(f"inventory: [{inventory}]\n"
                                        "environments: {web: [ssh 'group:web']}\n")
    with pytest.raises(ConfigError) as err:
        load_config(str(tmp_path / "orch.yaml"))
    assert f"{tmp_path}/{said}" in str(err.value), str(err.value)
    quoted = {name: text.replace(": no", ": 'no'").replace("0022", "'22'")
              .replace("0700", "'0700'") for name, text in files.items()}
    for name, text in quoted.items():
        (tmp_path / name).write_text(text)
    assert load_config(str(tmp_path / "orch.yaml")).environment("web")


def test_an_inventory_linked_into_a_folder_takes_that_folders_vars(tmp_path: Path) -> None:
    """fleets18: a hosts file linked into prod/ took the group_vars of the folder it was
    linked from: the fleet logged in as another user than `ansible-inventory -i prod/hosts`
    gives. Ansible reads the vars beside the path it was given, a link not followed."""
    (tmp_path / "common" / "group_vars").mkdir(parents=True)
    (tmp_path / "prod" / "group_vars").mkdir(parents=True)
    (tmp_path / "common" / "hosts").write_text("[web]\nw1 ansible_host=127.0.1.1\n")
    (tmp_path / "common" / "group_vars" / "web.yml").write_text("ansible_user: common_user\n")
    (tmp_path / "prod" / "group_vars" / "web.yml").write_text(
        "ansible_user: prod_deploy\nansible_port: 2222\n")
    (tmp_path / "prod" / "hosts").symlink_to("../common/hosts")
    assert load_inventories([tmp_path / "prod" / "hosts"]).connection("w1") == {
        "host": "127.0.1.1", "user": "prod_deploy", "port": 2222}
    assert load_inventories([tmp_path / "common" / "hosts"]).connection("w1")["user"] == \
        "common_user"


@pytest.mark.parametrize("how", ["executable", "#!"])
def test_a_dynamic_inventory_script_is_said_to_be_one(tmp_path: Path, how: str) -> None:
    """fleets18: `inventory.py` (what Ansible runs) was read as INI: "inventory.py:3: expected
    KEY=VALUE after the host name, got 'json'", a typo where there is none."""
    script = tmp_path / "inventory.py"
    script.write_text(("#!/usr/bin/env python3\n" if how == "#!" else "") +
                      'import json\nprint(json.dumps({"web": {"hosts": ["w1"]}}))\n')
    if how == "executable":
        script.chmod(0o755)
    with pytest.raises(ConfigError) as err:
        load_inventories([script])
    assert str(err.value) == (
        f"{script}: an executable file is a dynamic inventory script, which orch does not "
        f"run: save what it prints ({script} --list > hosts.json) and name that file"
        + (", or clear its x bit" if how == "executable" else ""))


@pytest.mark.parametrize(("limit", "expected"), [
    ("!db", ["web-1/app-1", "web-1/cache", "web-2/app-1", "db/pg"]),  # group db (web-3) left out, host db in
    ("db", ["db/pg"]),  # the host where a word adds
    ("web,&db", None),  # web ∩ group db: none (db/pg ran: group db's host was never asked)
    ("cache", ["web-1/app-1", "web-1/cache"]),  # the group, as in a fleet of hosts
])
def test_a_label_fleet_reads_a_host_or_group_name_as_a_fleet_of_its_hosts_does(
        limit: str, expected: list[str] | None) -> None:
    """review34: the host-or-group reading of a name followed the targets contacted: in a
    `label:` fleet `!db` dropped host db unasked, `web,&db` ran db/pg, and a container named
    like a group made `cache` that container only."""
    from orch_magics.fleet.targets import Target, limited_reached, names_of, to_find

    text = ("environments:\n  e:\n    layers:\n"
            "      - {type: ssh, config: {host: [web-1, web-2, web-3, db]}}\n"
            "      - {type: docker, config: {label: app=web}}\n")
    groups = {"web-1": {"web", "cache"}, "web-2": {"web"}, "web-3": {"db"}, "db": {"web"}}
    hosts = [dataclasses.replace(t, groups=frozenset(groups[t.label]))
             for t in expand(load_config_text(text).environments["e"].layers)]
    found_on = {"web-1": ["app-1", "cache"], "web-2": ["app-1"], "web-3": ["app-1"],
                "db": ["pg"]}
    wanted, unseen = to_find(hosts, limit)
    found = [Target(f"{t.label}/{name}", (), t.groups) for t in wanted for name in found_on[t.label]]
    if expected is None:
        with pytest.raises(ConfigError, match="leaves no target"):
            limited_reached(found, limit, unseen, names=names_of(hosts))
        with pytest.raises(ConfigError, match="leaves no target"):  # as a fleet of hosts
            select([t.label for t in hosts], limit, {t.label: t.groups for t in hosts})
        return
    kept = [t.label for t in limited_reached(found, limit, unseen, names=names_of(hosts))]
    assert kept == expected
    as_hosts = select([t.label for t in hosts], limit, {t.label: t.groups for t in hosts})
    assert sorted({label.split("/")[0] for label in kept}) == sorted(as_hosts)
