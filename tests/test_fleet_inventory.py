"""Ansible inventories read as ansible-core reads them: `host:port`, the `ansible_ssh_*` names,
the implicit groups `all` and `ungrouped`, and ranges ansible-core refuses; checked by running
on real sshd (127.0.1.x) where a wrong reading would reach the wrong host or port."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from fixtures.fleet import SSHFleet
from orch_magics import ConfigError, Orchestrator, load_config, load_config_text
from orch_magics.config.inventory import load_inventories
from orch_magics.fleet import expand

WHO = 'echo "$SSH_CONNECTION $USER" | cut -d" " -f3,4,5'  # server address, port, user


def _layer(fleet: SSHFleet) -> str:
    """The fleet's ssh settings without its port: the inventory has to give it."""
    return fleet.ssh_config().replace(f"port: {fleet.port}, ", "")


@pytest.fixture
def inventory_orch(ssh_fleet: SSHFleet, tmp_path: Path) -> Iterator[Orchestrator]:
    port = ssh_fleet.port
    (tmp_path / "hosts").write_text(f"""\
127.0.1.7:{port}
[web]
127.0.1.3:{port}
q5 ansible_host=127.0.1.5 ansible_ssh_port={port}
q6 ansible_ssh_host=127.0.1.6 ansible_host=127.0.1.99 ansible_port=1 ansible_ssh_port={port}
""")
    (tmp_path / "more.yaml").write_text(f"""\
all:
  hosts:
    solo: {{ansible_host: 127.0.1.8, ansible_port: {port}}}
  children:
    db:
      hosts:
        "127.0.1.9:{port}":
        q6:
""")
    (tmp_path / "orch.yaml").write_text(f"""\
inventory: [hosts, more.yaml]
environments:
  web: {{layers: [{{type: ssh, config: {{host: "group:web", {_layer(ssh_fleet)}}}}}]}}
  lone: {{layers: [{{type: ssh, config: {{host: "group:ungrouped", {_layer(ssh_fleet)}}}}}]}}
""")
    (tmp_path / "both.yaml").write_text(f"""\
environments:
  both: {{layers: [{{type: ssh, config: {{host: ["group:web", "group:db"],
          {_layer(ssh_fleet)}}}}}]}}
""")
    with Orchestrator(load_config(tmp_path / "orch.yaml")) as orch:
        yield orch



def test_host_port_and_ansible_ssh_names_reach_the_host_ansible_would(
        inventory_orch: Orchestrator, ssh_fleet: SSHFleet) -> None:
    res = inventory_orch.run("web", command=WHO)
    port = ssh_fleet.port
    assert res.ok, res.causes
    assert {k: r.stdout.split()[:2] for k, r in res.items()} == {
        "127.0.1.3": ["127.0.1.3", str(port)],  # labelled by the name, the port is the port
        "q5": ["127.0.1.5", str(port)],
        "q6": ["127.0.1.6", str(port)],  # ansible_ssh_* wins over ansible_*, as in Ansible
    }


def test_an_inventory_key_file_logs_in_where_the_layer_names_none(ssh_fleet: SSHFleet,
                                                                  tmp_path: Path) -> None:
    """`ansible_private_key_file` and `ansible_ssh_private_key_file` (which wins, as in
    Ansible's ssh plugin) choose the key, from inventory lines and from host_vars/; a key file
    written in the layer would win over both. Before, they were ignored: no key, no login."""
    port = ssh_fleet.port
    (tmp_path / "hosts").write_text(f"""\
[web]
k1 ansible_host=127.0.1.4 ansible_port={port}
k2 ansible_host=127.0.1.5 ansible_port={port} ansible_private_key_file={ssh_fleet.key}
[web:vars]
ansible_private_key_file={tmp_path}/missing-key
""")
    (tmp_path / "host_vars").mkdir()
    (tmp_path / "host_vars" / "k1.yml").write_text(
        f"ansible_ssh_private_key_file: {ssh_fleet.key}\nansible_private_key_file: /nope\n")
    layer = _layer(ssh_fleet).replace(f"identity_file: {ssh_fleet.key}, ", "")
    (tmp_path / "orch.yaml").write_text(
        f"inventory: [hosts]\nenvironments:\n  web: {{layers: [{{type: ssh, config: "
        f"{{host: 'group:web', {layer}}}}}]}}\n")
    with Orchestrator(load_config(tmp_path / "orch.yaml")) as orch:
        res = orch.run("web", command=WHO)
    assert res.ok, res.causes
    assert {k: r.stdout.split()[0] for k, r in res.items()} == {"k1": "127.0.1.4",
                                                               "k2": "127.0.1.5"}
    (tmp_path / "host_vars" / "k1.yml").write_text("# no key here\n")
    with Orchestrator(load_config(tmp_path / "orch.yaml")) as orch:
        res = orch.run("web", command=WHO)
    assert res["k2"].ok, res.causes  # the group's missing key: k1 says which file it tried
    assert not res["k1"].ok and "missing-key" in str(res.causes["k1"]), res.causes


def test_a_rerun_reads_the_inventory_again(inventory_orch: Orchestrator, tmp_path: Path,
                                           ssh_fleet: SSHFleet) -> None:
    """docs/fleets.md: a host no longer in the inventory is a failed row of a rerun saying
    so. Before, a rerun used the hosts read when the config loaded: it ran on a host taken
    out of the inventory (and missed a changed address)."""
    res = inventory_orch.run("web", command=WHO)
    assert sorted(res) == ["127.0.1.3", "q5", "q6"], res.causes
    hosts = tmp_path / "hosts"
    hosts.write_text(hosts.read_text().replace("q5 ", "q4 ")  # q5 leaves, q6 moves
                     .replace("ansible_ssh_host=127.0.1.6", "ansible_ssh_host=127.0.1.2"))
    again = res.rerun()
    assert sorted(again) == ["127.0.1.3", "q5", "q6"]  # the same labels: one is gone
    assert "'q5' is no longer a target of 'web'" in str(again.causes["q5"]), again.causes
    assert again["q6"].stdout.split()[:2] == ["127.0.1.2", str(ssh_fleet.port)], again.causes
    assert again["127.0.1.3"].ok


def test_a_rerun_of_a_config_given_as_text_runs_again(ssh_fleet: SSHFleet, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """A config given as text has no file to read again: its rerun said "conf.yaml: config
    file not found" (or read a file of that name in the working directory)."""
    (tmp_path / "hosts").write_text(f"[web]\n127.0.1.3:{ssh_fleet.port}\n")
    text = (f"inventory: [{tmp_path}/hosts]\nenvironments:\n  web: {{layers: [{{type: ssh, "
            f"config: {{host: 'group:web', {_layer(ssh_fleet)}}}}}]}}\n")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "conf.yaml").write_text("environments: {}\n")  # a file of that name here
    with Orchestrator(load_config_text(text, "conf.yaml")) as orch:
        res = orch.run("web", command=WHO)
        assert res.ok and res.rerun().ok, res.causes


def test_ungrouped_holds_the_hosts_of_no_other_group(inventory_orch: Orchestrator) -> None:
    res = inventory_orch.run("lone", command=WHO)
    assert res.ok, res.causes
    assert {k: r.stdout.split()[0] for k, r in res.items()} == {
        "127.0.1.7": "127.0.1.7", "solo": "127.0.1.8"}


def test_a_union_of_groups_names_a_shared_host_once(inventory_orch: Orchestrator,
                                                   tmp_path: Path) -> None:
    """`web:db` in Ansible: q6 is in both groups and runs once."""
    config = load_config(tmp_path / "orch.yaml", tmp_path / "both.yaml")
    with Orchestrator(config) as orch:
        res = orch.run("both", command=WHO)
    assert list(res) == ["127.0.1.3", "q5", "q6", "127.0.1.9"] and res.ok, res.causes


@pytest.mark.parametrize("hosts", ['["group:web", "q5"]', '["q5", "group:web"]'])
def test_a_host_written_and_in_a_group_of_the_same_list_is_named_twice(
        inventory_orch: Orchestrator, tmp_path: Path, hosts: str) -> None:
    """Before, written first it was taken silently as a bare name: without the inventory's
    address, port and groups (a run reached `q5` on port 22, `--limit web` left it out)."""
    (tmp_path / "twice.yaml").write_text(
        f"environments:\n  twice: {{layers: [{{type: ssh, config: {{host: {hosts}}}}}]}}\n")
    with pytest.raises(ConfigError, match=r"twice.yaml:2:.*'q5' is named twice \(by .* and by "
                                          r".*\): each target once") as err:
        load_config(tmp_path / "orch.yaml", tmp_path / "twice.yaml")
    assert "group:web" in str(err.value) and "'q5'" in str(err.value)  # both, named (fleets9)


def test_the_implicit_groups_and_the_ssh_names_in_a_bare_inventory(tmp_path: Path) -> None:
    (tmp_path / "inv.ini").write_text(
        "top\nboth\n[web]\nboth\nw1:2222 ansible_port=2200\n[web:vars]\nansible_ssh_user=ops\n"
        "[db]\n[fe80::1]:2022\nfe80::2\n")
    inv = load_inventories([tmp_path / "inv.ini"])
    assert inv.hosts_of("ungrouped") == ["top"]  # `both` moved out once in [web], as in Ansible
    assert inv.hosts_of("all") == ["top", "both", "w1", "fe80::1", "fe80::2"]
    assert inv.connection("w1") == {"user": "ops", "port": 2200}  # written later: it wins
    assert inv.connection("fe80::1") == {"port": 2022} and inv.connection("fe80::2") == {}
    assert inv.groups_of("top") == ["ungrouped"]
    with pytest.raises(ConfigError, match="known: all, db, ungrouped, web"):
        inv.hosts_of("nope")


@pytest.mark.parametrize(("where", "text"), [
    ("orch.yaml:3", None),
    ("inv.ini:2", "[web]\nw[01:3]\n"),
])
def test_a_zero_padded_range_with_a_shorter_end_is_refused_as_ansible_does(
        tmp_path: Path, where: str, text: str | None) -> None:
    host = "w[01:3]" if text is None else "group:web"
    if text is not None:
        (tmp_path / "inv.ini").write_text(text)
    (tmp_path / "orch.yaml").write_text(
        f"{'inventory: [inv.ini]' if text else ''}\nenvironments:\n"
        f"  f: {{layers: [{{type: ssh, config: {{host: '{host}'}}}}]}}\n")
    with pytest.raises(ConfigError, match=f"{where}.*equal-length begin and end") as err:
        expand(load_config(tmp_path / "orch.yaml").environment("f").layers)
    assert "[01:03]" in str(err.value)


@pytest.mark.parametrize(("text", "said"), [
    ("[web]\nq ansible_usr=deploy\n", "inv.ini:2: its inventory variable 'ansible_usr' is "
                                       "unknown (did you mean 'ansible_user'?)"),
    ("[web]\nq\n[web:vars]\nansible_prot=2222\n", "inv.ini:4: its inventory variable "
                                                  "'ansible_prot' is unknown (did you mean "
                                                  "'ansible_port'?)"),
    ("all:\n  children:\n    web:\n      hosts: {q: }\n      vars:\n        x: 1\n"
     "        ansible_prot: 2222\n", "inv.ini:7: its inventory variable 'ansible_prot'"),
    ("[web]\nq ansible_ssh_common_args='-o ProxyJump=bastion'\n",
     "its inventory's ansible_ssh_common_args sets a jump host (or an ssh_config, -F, that may), "
     "which orch does not read"),
    ("all:\n  hosts:\n    q:\n      ansible_ssh_extra_args: -J ops@bastion\n",
     "inv.ini:4: its inventory's ansible_ssh_extra_args sets a jump host"),
    # fleets7: ssh reads -J inside a cluster of one-letter options too
    ("[web]\nq ansible_ssh_common_args='-AJ b'\n", "ansible_ssh_common_args sets a jump host"),
    ("[web]\nq ansible_ssh_common_args='-4J b'\n", "sets a jump host"),
    ("[web]\nq ansible_ssh_args='-C -vJb'\n", "ansible_ssh_args sets a jump host"),
    ("[web]\nq ansible_ssh_common_args='-F jump.cfg'\n", "sets a jump host (or an ssh_config, "
     "-F, that may), which orch does not read"),
    # fleets16: where and as whom a host is reached, set in ssh arguments, was not read
    ("[web]\nq ansible_ssh_common_args='-o HostName=10.0.0.9 -o StrictHostKeyChecking=no'\n",
     "inv.ini:2: its inventory's ansible_ssh_common_args ('-o HostName=10.0.0.9 -o "
     "StrictHostKeyChecking=no') sets the address (write it as ansible_host), which orch does "
     "not read from ssh arguments"),
    ("[web]\nq ansible_ssh_extra_args='-C -l deploy'\n", "sets the login user (write it as "
                                                         "ansible_user)"),
    ("[web]\nq ansible_ssh_args='-oUser=deploy'\n", "sets the login user"),
    ("[web]\nq ansible_ssh_args='-o \"port 2222\"'\n", "sets the port (write it as "
                                                      "ansible_port)"),
    ("[web]\nq ansible_ssh_args='-4p2222'\n", "sets the port"),
    ("[web]\nq\n[web:vars]\nansible_ssh_common_args=\"{{ jumpargs }}\"\n",
     "its inventory's ansible_ssh_common_args is a template ('{{ jumpargs }}'), which only "
     "Ansible can read: orch cannot tell whether it sets a jump host"),
])
def test_an_inventory_variable_that_would_reach_a_host_otherwise_is_refused(
        tmp_path: Path, text: str, said: str) -> None:
    """A misspelt connection variable ran as another user or port, and a jump host in ssh
    arguments (which orch does not read) was skipped: the run went straight to the host
    (config2 tester). Said for a host an environment names, at that environment's line."""
    (tmp_path / "inv.ini").write_text(text)
    (tmp_path / "orch.yaml").write_text("inventory: inv.ini\nenvironments:\n"
                                        "  f: [ssh group:all]\n")
    with pytest.raises(ConfigError, match=r"orch\.yaml:3:.*" + re.escape(said)):
        load_config(tmp_path / "orch.yaml")


@pytest.mark.parametrize("where", ["group_vars/web.yml", "group_vars/all/conn.yaml",
                                   "host_vars/q.yml"])
@pytest.mark.parametrize(("var", "said"), [
    ("ansible_usr: deploy", "its inventory variable 'ansible_usr' is unknown (did you mean "
                            "'ansible_user'?)"),
    ('ansible_ssh_common_args: "-o ProxyJump=bastion"', "its inventory's "
     "ansible_ssh_common_args sets a jump host"),
    ("ansible_connection: local", "its ansible_connection is 'local': an ssh layer reaches it "
                                  "over ssh only"),
])
def test_the_same_variables_in_a_vars_file_are_refused_alike(tmp_path: Path, where: str,
                                                             var: str, said: str) -> None:
    """fleets8: in group_vars/ or host_vars/ these were dropped without a word, and the run
    logged in as the controller's user, straight past the bastion, or over ssh to a host
    Ansible reaches locally."""
    (tmp_path / "inv.ini").write_text("[web]\nq ansible_host=127.0.1.1\n")
    (tmp_path / where).parent.mkdir(parents=True)
    (tmp_path / where).write_text("ntp_server: pool.example\n" + var + "\n")
    (tmp_path / "orch.yaml").write_text("inventory: inv.ini\nenvironments:\n"
                                        "  f: [ssh group:web]\n")
    # fleets9: the error names the vars file's line, not only the host (the typo is not there)
    with pytest.raises(ConfigError, match=r"orch\.yaml:3:.*inventory host 'q': " + re.escape(
            f"{tmp_path / where}:2: {said}")):
        load_config(tmp_path / "orch.yaml")


@pytest.mark.parametrize("args", [
    "-o StrictHostKeyChecking=no", "-C -i J", "-o ServerAliveInterval=5 -A",
    "-o UserKnownHostsFile=/dev/null", "-o ControlPersist=60s -o Ciphers=aes128-ctr"])
def test_ssh_arguments_without_a_jump_host_are_left_alone(tmp_path: Path, args: str) -> None:
    """Options that change neither where nor as whom a host is reached load (orch does not
    read them); `-l J` is refused now as a login user (fleets16), not as a jump host."""
    (tmp_path / "inv.ini").write_text(f"[web]\nq ansible_ssh_common_args='{args}'\n")
    (tmp_path / "orch.yaml").write_text("inventory: inv.ini\nenvironments:\n"
                                        "  f: [ssh group:all]\n")
    assert load_config(tmp_path / "orch.yaml").environment("f").is_fleet


def test_a_jump_host_in_another_group_of_a_shared_inventory_is_left_alone(
        tmp_path: Path) -> None:
    """The check ran over the whole inventory: one dmz group behind a bastion refused every
    `group:` environment of it (review10)."""
    (tmp_path / "inv.ini").write_text(
        "[web]\nw1 ansible_host=127.0.1.1\n[dmz]\nd1 ansible_usr=x\n"
        "[dmz:vars]\nansible_ssh_common_args='-o ProxyJump=ops@bastion'\n")
    (tmp_path / "orch.yaml").write_text("inventory: inv.ini\nenvironments:\n"
                                        "  web: [ssh group:web]\n  dmz: [ssh group:dmz]\n")
    with pytest.raises(ConfigError, match="dmz"):
        load_config(tmp_path / "orch.yaml")
    (tmp_path / "orch.yaml").write_text("inventory: inv.ini\nenvironments:\n"
                                        "  web: [ssh group:web]\n")
    assert load_config(tmp_path / "orch.yaml").environment("web").is_fleet


def test_other_ansible_variables_are_left_as_ansible_would_use_them(tmp_path: Path) -> None:
    (tmp_path / "inv.ini").write_text(
        "[web]\nq ansible_ssh_pass=x ansible_become_user=root ansible_python_interpreter=/p "
        "ansible_ssh_common_args='-o StrictHostKeyChecking=no' ansible_user=ops\n")
    assert load_inventories([tmp_path / "inv.ini"]).connection("q") == {"user": "ops"}


@pytest.mark.parametrize("kind", ["device", "fifo"])
def test_an_inventory_that_is_not_a_regular_file_is_called_so(tmp_path: Path,
                                                              kind: str) -> None:
    path = tmp_path / "fifo"
    if kind == "fifo":
        os.mkfifo(path)
    else:
        path = Path("/dev/zero")
    (tmp_path / "orch.yaml").write_text(f"inventory: [{path}]\nenvironments: {{}}\n")
    with pytest.raises(ConfigError, match=f"orch.yaml:1.*'{path}' is not a regular file"):
        load_config(tmp_path / "orch.yaml")


@pytest.mark.parametrize(("name", "text"), [
    ("inv.ini", "[web]\nw1 ansible_port=2200\n"),
    ("bare.ini", "w1 ansible_port=2200\n"),
    ("inv.yaml", "web:\n  hosts:\n    w1: {ansible_port: 2200}\n"),
])
def test_a_byte_order_mark_is_no_part_of_the_first_name(tmp_path: Path, name: str,
                                                        text: str) -> None:
    """An inventory saved by a Windows editor starts with a UTF-8 BOM: `[web]` was read as a
    host `\\ufeff[web]` (refused as a bad range) and a first host was named `\\ufeffw1`;
    ansible-inventory drops the mark (held-out tester)."""
    (tmp_path / name).write_bytes(b"\xef\xbb\xbf" + text.encode())
    (tmp_path / "orch.yaml").write_bytes(
        b"\xef\xbb\xbf" + f"inventory: [{name}]\nenvironments:\n"
        f"  f: {{layers: [{{type: ssh, config: {{host: 'group:all'}}}}]}}\n".encode())
    config = load_config(tmp_path / "orch.yaml")
    targets = expand(config.environment("f").layers)
    assert [t.label for t in targets] == ["w1"]
    inv = load_inventories([tmp_path / name])
    assert inv.connection("w1") == {"port": 2200}
    assert list(inv.groups) == (["ungrouped"] if name == "bare.ini" else ["web"])


def test_a_rerun_of_a_fleet_narrowed_to_one_target_says_so(
        ssh_fleet: SSHFleet, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """fleets18: once the config (found, so read again) named one host, a rerun said that
    host "is no longer a target of 'web'": it is its only one, a run of its own now."""
    cfg = tmp_path / "orch.yaml"
    monkeypatch.chdir(tmp_path)

    def write(host: str) -> None:
        cfg.write_text(f"environments:\n  web: [{{type: ssh, config: {{host: '{host}', "
                       f"{ssh_fleet.ssh_config()}}}}}]\n")

    write("127.0.1.[1:2]")
    with Orchestrator() as orch:
        res = orch.run("web", command=WHO)
        assert res.ok, res.causes
        write("127.0.1.1")
        again = res.rerun()
    assert sorted(again) == ["127.0.1.1", "127.0.1.2"] and {
        str(cause) for cause in again.causes.values()} == {
        "'web' is no longer a fleet (its config names one target now): run it as one run, "
        "orch.run('web', …)"}, again.causes


def test_labels_of_wide_characters_line_up(ssh_fleet: SSHFleet, tmp_path: Path) -> None:
    """fleets18: the CLI padded labels by characters, so `サーバ1 |` (two columns a kana)
    stood further right than `web-0001 |`; the table below them was right."""
    import subprocess
    import sys

    from orch_magics.text import columns

    (tmp_path / "hosts").write_text(f"[web]\nサーバ1 ansible_host=127.0.1.1 ansible_port="
                                    f"{ssh_fleet.port}\nweb-0001 ansible_host=127.0.1.2 "
                                    f"ansible_port={ssh_fleet.port}\n")
    (tmp_path / "orch.yaml").write_text(
        f"inventory: [hosts]\nenvironments:\n  web: {{layers: [{{type: ssh, config: "
        f"{{host: 'group:web', {_layer(ssh_fleet)}}}}}]}}\n")
    out = subprocess.run([sys.executable, "-m", "orch_magics.cli", "-c", str(tmp_path / "orch.yaml"),
                          "run", "web", "--", "echo", "hello"], capture_output=True, text=True,
                         timeout=120).stdout
    bars = {columns(line.partition("|")[0]) for line in out.splitlines() if "| hello" in line}
    assert len(bars) == 1 and out.count("| hello") == 2, out


def test_a_host_written_by_name_is_the_inventory_host_of_that_name(
        ssh_fleet: SSHFleet, tmp_path: Path) -> None:
    """fleets19: a layer writing an inventory host's name (`host: q5`, or in a list) reached
    the bare name with the layer's port, not the inventory's `ansible_host` and port: the same
    label could be another machine, and `--limit web` did not match it. It is that inventory
    host now, as Ansible takes a host pattern; a group's name without `group:` is refused."""
    port = ssh_fleet.port
    (tmp_path / "hosts").write_text(f"[web]\n127.0.1.3 ansible_host=127.0.1.4 "
                                    f"ansible_port={port}\nq5 ansible_host=127.0.1.5 "
                                    f"ansible_port={port}\n")
    envs = {"one": "q5", "list": "['127.0.1.3', q5, '127.0.1.6']", "web": "web"}
    (tmp_path / "orch.yaml").write_text("inventory: hosts\nenvironments:\n" + "".join(
        f"  {name}: [{{type: ssh, config: {{host: {host}, {ssh_fleet.ssh_config()}}}}}]\n"
        for name, host in envs.items() if name != "web"))
    with Orchestrator(load_config(tmp_path / "orch.yaml")) as orch:
        assert orch.run("one", command=WHO).stdout.split()[:2] == ["127.0.1.5", str(port)]
        res = orch.run("list", command=WHO)
        assert {k: r.stdout.split()[0] for k, r in res.items()} == {
            "127.0.1.3": "127.0.1.4", "q5": "127.0.1.5", "127.0.1.6": "127.0.1.6"}, res.causes
        limited = orch.run("list", command=WHO, limit="web")  # its groups came with it
        assert sorted(limited) == ["127.0.1.3", "q5"]
    (tmp_path / "orch.yaml").write_text(
        f"inventory: hosts\nenvironments:\n  web: [{{type: ssh, config: {{host: web, "
        f"{ssh_fleet.ssh_config()}}}}}]\n")
    with pytest.raises(ConfigError, match="orch.yaml:3:.*host 'web': 'web' is a group of the "
                                          "inventory: write group:web"):
        load_config(tmp_path / "orch.yaml")
    (tmp_path / "hosts").write_text("[web\nq5\n")  # review31: passed over, `q5` by DNS
    (tmp_path / "orch.yaml").write_text(f"inventory: hosts\nenvironments:\n  one: [{{type: ssh, "
                                        f"config: {{host: q5, {ssh_fleet.ssh_config()}}}}}]\n")
    with pytest.raises(ConfigError, match="hosts:1"):
        load_config(tmp_path / "orch.yaml")


@pytest.mark.parametrize("mode", [0o600, 0o644])
@pytest.mark.parametrize("body", [
    '          ansible_become_password: "Sup3rS3cretPw',  # a quote left open
    "          ansible_password: Sup3rS3cretPw: x",  # `: ` in a password
    "          ansible_ssh_pass: Sup3rS3cretPw\n          ansible_ssh_pass: Sup3rS3cretPw",
])
def test_a_mistake_in_a_yaml_inventory_does_not_show_a_password_line(
        tmp_path: Path, body: str, mode: int) -> None:
    """safety26: `orch check` and `%orch load` printed the line of an inventory's syntax or
    duplicate-key error, password and all, as orch's own config files never do."""
    hosts = tmp_path / "hosts.yaml"
    hosts.write_text("all:\n  children:\n    web:\n      hosts:\n        web1:\n"
                     f"          ansible_host: 10.0.0.1\n{body}\n")
    hosts.chmod(mode)
    (tmp_path / "orch.yaml").write_text(
        'inventory: [hosts.yaml]\nenvironments:\n'
        '  web:\n    layers: [{type: ssh, config: {host: "group:web"}}]\n')
    done = subprocess.run([str(Path(sys.executable).with_name("orch")), "check"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and re.search(r"hosts\.yaml:[78]:\d+: ", done.stderr), done
    assert "Sup3rS3cretPw" not in done.stdout + done.stderr, done.stderr
    hosts.write_text(re.sub(r"ansible_\w*pass\w*", "greeting", hosts.read_text()))  # no secret
    done = subprocess.run([str(Path(sys.executable).with_name("orch")), "check"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert ("Sup3rS3cretPw" in done.stderr) == (mode == 0o644), done.stderr
