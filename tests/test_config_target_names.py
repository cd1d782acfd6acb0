"""A host or container name no run could reach is refused at load, at its file:line (left
undone 2026-11-30: `host: "web-1 "`, `host: ""` and `container: " app"` passed `orch check` and
failed only when a run tried to resolve them; a name starting with `-` reads as an option to
every ssh and docker tool). Lists and range patterns are checked name by name."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from orch_magics import ConfigError, load_config_text

ORCH = [sys.executable, "-m", "orch_magics.cli"]


def env_with(layer: str) -> str:
    return f"environments:\n  e:\n    layers:\n      - {layer}\n"


@pytest.mark.parametrize(("layer", "column", "why"), [
    ('{type: ssh, config: {host: "web-1 "}}', 36, "has a space"),
    ('{type: ssh, config: {host: ""}}', 36, "is empty"),
    ('{type: ssh, config: {host: "web\\t1"}}', 36, "'\\t'"),
    ('{type: ssh, config: {host: "web\\u200b1"}}', 36, "'\\u200b'"),  # an invisible one
    ('{type: ssh, config: {host: "-oProxyCommand=x"}}', 36, "starts with '-'"),
    ('{type: docker, config: {container: " app"}}', 44, "has a space"),
    ('{type: podman, config: {container: ""}}', 44, "is empty"),
    ('{type: ssh, config: {host: [web-1, "web 2"]}}', 44, "has a space"),
    ('{type: ssh, config: {host: "web-[1:3] "}}', 36, "has a space"),
    ('{type: docker, config: {container: [a, "-b"]}}', 48, "starts with '-'"),
    # Ansible's host:port, and the inventory prefix misspelt: each was a DNS error at run time
    ('{type: ssh, config: {host: "web:2222"}}', 36,
     "has ':': a host or container name has none (an ssh port is its own setting: host: web, "
     "port: 2222)"),
    ('{type: ssh, config: {host: "groups:web"}}', 36, "(did you mean 'group:web', an inventory "
                                                      "group?)"),
    ('{type: ssh, config: {host: [a, "grp:db"]}}', 40, "did you mean 'group:db'"),
    ('{type: docker, config: {container: "app:1"}}', 44, "it has ':': a host or container name "
     "has none (a container is named by its name or id, not by an image NAME:TAG)"),
    ('{type: podman, config: {container: "app-[1:3]:22"}}', 44, "(a container is named by its "
                                                                "name or id, not by an image"),
    # inputs #8: a placeholder was told "it has ':'"; a secret sudo user went on sudo's argv
    ('{type: ssh, config: {host: "{{secret:h}}"}}', 36, "a host or container name is written "
     "as it is: a {{…}} placeholder is not expanded in it"),
    ('{type: docker, config: {container: "{{env:APP}}"}}', 44, "placeholder is not expanded"),
    ('{type: sudo, config: {user: "{{ secret: u }}"}}', 37, "a user name is shown on the "
     "process list or command line where it is used: write the name, not a {{secret:…}} "
     "placeholder"),
    # safety17: an ssh login went onto the target's process list (`sshd: NAME@notty`)
    ('{type: ssh, config: {host: h, user: "{{secret:u}}"}}', 45, "a user name is shown on the "
     "process list or command line where it is used"),
    ('{type: docker, config: {container: c, user: "x{{secret:u}}"}}', 53, "a user name is shown"),
    # inputs #1: an unclosed range was told "an ssh port is its own setting: host: web-[01"
    ('{type: ssh, config: {host: "web-[01:12"}}', 36, "host 'web-[01:12': range '[01:12' has no "
     "closing ']': a range is written [01:12] or [a:f]"),
    ('{type: docker, config: {container: "web-[01:12"}}', 44, "range '[01:12' has no closing "
                                                              "']'"),
    # the `ssh user@host` habit: a DNS error at run time before
    ('{type: ssh, config: {host: "deploy@web-1"}}', 36, "it has '@': a host or container name "
     "has none (a user is its own setting: host: web-1, user: deploy)"),
    ('{type: ssh, config: {host: [a, "@b"]}}', 40, "it has '@'"),
    ('{type: ssh, config: {host: "web-[1:3]:22"}}', 36, "(an ssh port is its own setting: "
                                                         "host: web-[1:3], port: 22)"),
    # fleets6: `a/b` then `c`, and `a` then `b/c`, were both labelled a/b/c: one run vanished
    ('{type: ssh, config: {host: ["127.0.1.1/x", "127.0.1.1"]}}', 37, "host '127.0.1.1/x': it "
     "has '/': a host or container name has none (a fleet target's label joins its hops' "
     "names with '/')"),
    ('{type: ssh, config: {host: "a/b"}}', 36, "it has '/'"),
    ('{type: docker, config: {container: "b/c-[1:2]"}}', 44, "it has '/'"),
    ('{type: podman, config: {container: x/y}}', 44, "it has '/'"),
    # config7: loaded as literal hosts, failing only at run time; `--limit` splits at ','
    ('{type: ssh, config: {host: "web-*"}}', 36, "it has '*': a host or container name has "
     "none (to pick some targets, list them, or use --limit with a pattern)"),
    ('{type: ssh, config: {host: "web?"}}', 36, "it has '?'"),
    ('{type: docker, config: {container: "a,b"}}', 44, "it has ','"),
    # fleets7: ssh_config's ProxyCommand puts %h and %r into a shell line on this machine
    ('{type: ssh, config: {host: "a$(>x)"}}', 36, "it has '$': a host or container name has "
     "none (a shell would read it where the name is put into a command line, as ssh_config's "
     "ProxyCommand does)"),
    ('{type: ssh, config: {host: [a, "b`id`"]}}', 40, "it has '`'"),
    ('{type: ssh, config: {host: "a;reboot"}}', 36, "it has ';'"),
    ('{type: ssh, config: {host: a, user: "u$(>y)"}}', 45, "config.user: it has '(': a user "
     "name has none (a shell would read it"),
    ('{type: ssh, config: {host: a, user: "u|x"}}', 45, "it has '|'"),
    ('{type: ssh, config: {host: a, user: "u\\\\"}}', 45, "it has '\\\\'"),
    ('{type: ssh, config: {host: a, user: "-oProxyCommand=x"}}', 45, "starts with '-'"),
    ('{type: docker, config: {container: "c&d"}}', 44, "it has '&'"),
    # fleets29: a zero-padded part is octal to the resolver: `010` reached .8, `008` none
    ('{type: ssh, config: {host: "127.29.0.[008:012]"}}', 36, "host '127.29.0.[008:012]': a "
     "part with a leading 0 is octal to the resolver, which finds no address in it: write "
     "127.29.0.8 (and a range unpadded: [8:12], not [008:012])"),
    ('{type: ssh, config: {host: [10.0.0.8, "10.0.0.010"]}}', 47, "host '10.0.0.010': a part "
     "with a leading 0 is octal to the resolver, which reads it as 10.0.0.8: write 10.0.0.10"),
    ('{type: ssh, config: {host: "0127.1"}}', 36, "which reads it as 87.0.0.1: write 127.1"),
    ('{type: docker, config: {container: c, docker_host: "tcp://h:"}}', 60,
     "docker host 'tcp://h:' has an empty port: write one after ':'"),
    ('{type: docker, config: {container: c, docker_host: "tcp://h:0"}}', 60,
     "docker host 'tcp://h:0' has a port out of range (1-65535)"),
])
def test_a_name_no_run_could_reach_is_refused_at_its_place(layer: str, column: int,
                                                           why: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_config_text(env_with(layer), "conf.yaml")
    text = str(err.value)
    assert f"conf.yaml:4:{column}:" in text, text
    assert why in text, text


def test_names_tools_accept_still_load() -> None:
    config = load_config_text(env_with(
        '{type: ssh, config: {host: "web-[01:03].prod"}}\n'
        '      - {type: ssh, config: {host: "fe80::1"}}\n'
        '      - {type: docker, config: {container: [app_1, app.2, 4f2a9c]}}\n'
        '  p:\n    layers: [{type: podman, config: {container: "db-1"}}]\n'
        '  n:\n    layers:\n'  # fleets29: only a zero-padded address part is refused
        '      - {type: ssh, config: {host: ["10.0.0.[8:12]", 10.0.0.0, web-010, 0x7f.1]}}\n'
        '      - {type: docker, config: {container: "010"}}\n'), "conf.yaml")
    assert [len(spec.fanout.members) if spec.fanout else 1
            for spec in config.environments["e"].layers] == [3, 1, 3]
    assert [len(spec.fanout.members) if spec.fanout else 1
            for spec in config.environments["n"].layers] == [8, 1]
    assert config.environments["p"].layers[0].config.container == "db-1"


def test_a_user_a_placeholder_gives_is_checked_when_a_run_is_planned(
        tmp_path: Path) -> None:
    """fleets7: `user: "{{env:U}}"` with U holding a command substitution went to the
    ProxyCommand as written; it is refused before anything connects, and nothing runs."""
    (tmp_path / "orch.yaml").write_text(env_with(
        "{type: ssh, config: {host: 127.0.0.1, user: '{{env:ORCH_T_USER}}', "
        "ssh_config: cfg}}"))
    (tmp_path / "cfg").write_text("Host *\n  ProxyCommand sh -c 'echo %r > /dev/null'\n")
    done = subprocess.run([*ORCH, "run", "e", "--", "true"], capture_output=True, text=True,
                          cwd=tmp_path, timeout=120,
                          env={**os.environ, "ORCH_T_USER": "u$(>pwned)"})
    assert done.returncode == 2, done
    assert ("user: what '{{env:ORCH_T_USER}}' gave: it has '(': a user name has none"
            in done.stderr), done.stderr
    assert not (tmp_path / "pwned").exists()
    # review16: a value shaped like a placeholder is what it gave, checked as it is
    done = subprocess.run([*ORCH, "run", "e", "--", "true"], capture_output=True, text=True,
                          cwd=tmp_path, timeout=120,
                          env={**os.environ, "ORCH_T_USER": "{{env:$(>pwned)}}"})
    assert done.returncode == 2 and "it has '{': a user name has none" in done.stderr, done
    assert not (tmp_path / "pwned").exists()


def test_a_user_a_placeholder_gives_is_used_and_checked_as_what_it_gave(tmp_path: Path) -> None:
    """basics8 F1: `user: "{{secret:u}}"` passed `orch check` but every run (`--dry-run`
    too) was refused, as the guardrails' pass judged the placeholder itself as a user name.
    (A secret is refused there now, safety17: `{{env:…}}` is the placeholder a login takes.)"""
    (tmp_path / "orch.yaml").write_text(env_with(
        "{type: ssh, config: {host: 127.0.0.1, user: '{{env:ORCH_LOGIN}}', ssh_config: cfg}}"))
    (tmp_path / "cfg").write_text(
        f"Host *\n  ProxyCommand sh -c 'echo %r > {tmp_path}/user; exit 1'\n")

    def run(login: str, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*ORCH, "run", *args, "e", "--", "true"], capture_output=True,
                              text=True, cwd=tmp_path, timeout=120,
                              env={**os.environ, "ORCH_LOGIN": login})

    dry = run("deploy", "--dry-run")
    assert dry.returncode == 0 and "command:     true" in dry.stdout, dry
    assert run("deploy").returncode != 0  # the proxy never connects; it saw the user
    assert (tmp_path / "user").read_text() == "deploy\n"
    refused = run("u$(>pwned)")
    assert refused.returncode == 2, refused
    assert "what '{{env:ORCH_LOGIN}}' gave: it has '('" in refused.stderr, refused.stderr
    assert "pwned" not in refused.stderr.replace("{{env:ORCH_LOGIN}}", "")
    assert not (tmp_path / "pwned").exists()


def test_logins_openssh_takes_still_load() -> None:
    """`$` and an inner `\\` are in real logins (Samba's `host$`, Windows' `DOMAIN\\user`):
    OpenSSH takes them in a user, as orch does (review16)."""
    config = load_config_text(env_with(
        '{type: ssh, config: {host: a, user: "svc$"}}\n'
        "      - {type: ssh, config: {host: b, user: 'CORP\\ops'}}"))
    assert [spec.config.user for spec in config.environments["e"].layers] == ["svc$", "CORP\\ops"]


def test_orch_check_refuses_it_before_anything_runs(tmp_path: Path) -> None:
    (tmp_path / "orch.yaml").write_text(env_with('{type: ssh, config: {host: "db-1 "}}'))
    done = subprocess.run([*ORCH, "check"], capture_output=True, text=True, cwd=tmp_path,
                          timeout=120)
    assert done.returncode == 2, done
    assert "orch.yaml:4:36: environments.e.layers[0].config.host: it has a space" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize(("line", "why"), [
    # (a value set in the inventory is said at its line there too: fleets11)
    ('w3 ansible_host="a b"', "{inv}:4: inventory host 'w3' ('a b'): it has a space"),
    ("w3 ansible_host=a[1]", "{inv}:4: inventory host 'w3' ('a[1]'): it has '[': a host or "
                             "container "
                             "name has none (a range is written [01:12] or [a:f])"),
    # a template only Ansible fills in: left out, the name w3 would be reached instead
    ('w3 ansible_host="{{ inventory_hostname }}.internal"',
     "inventory host 'w3': {inv}:4: its ansible_host is a template ('{{ inventory_hostname "
     "}}.internal'), which only Ansible can read: write the address in the inventory or the "
     "ssh layer"),
    # reached over ssh, it would be another machine (localhost: this one as the ssh user)
    # (a chroot host named by a path loads: it is refused only where an environment names it)
    ("w3/x ansible_host=w3", "{inv}:4: inventory host 'w3/x': it has '/': a host or container "
                             "name has none (a fleet target's label joins its hops' names "
                             "with '/')"),  # fleets16: at its inventory line too
    # fleets7: a command substitution in an address or a user ran through a ProxyCommand
    ('w3 ansible_host="x$(>pwned).internal"', "{inv}:4: inventory host 'w3' "
     "('x$(>pwned).internal'): it "
     "has '$': a host or container name has none (a shell would read it"),
    ('w3 ansible_host=127.0.1.3 ansible_user="orch`id`"', "{inv}:4: inventory host 'w3', "
     "ansible_user "
     "'orch`id`': it has '`': a user name has none"),
    # fleets9: the error names the inventory line that set the variable, not only the host
    ("w3 ansible_host=10.0.1.010", "{inv}:4: inventory host 'w3' ('10.0.1.010'): a part with "
                                   "a leading 0 is octal to the resolver, which reads it as "
                                   "10.0.1.8: write 10.0.1.10"),  # fleets29
    ("w3 ansible_connection=local", "inventory host 'w3': {inv}:4: its ansible_connection is "
                                    "'local': an ssh layer reaches it over ssh only"),
    ("w3 ansible_connection=community.docker.docker", "inventory host 'w3': {inv}:4: its "
     "ansible_connection is 'community.docker.docker': an ssh layer"),
])
def test_every_inventory_host_is_checked_not_only_the_first(tmp_path: Path, line: str,
                                                           why: str) -> None:
    """Before: only the first host's address reached the layer's checks; a later one failed
    at run time (`does not resolve`)."""
    (tmp_path / "inv.ini").write_text(f"[web]\nw1\nw2\n{line}\n")
    (tmp_path / "orch.yaml").write_text(
        "inventory: [inv.ini]\n" + env_with("{type: ssh, config: {host: 'group:web'}}"))
    done = subprocess.run([*ORCH, "check"], capture_output=True, text=True, cwd=tmp_path,
                          timeout=120)
    assert done.returncode == 2, done
    why = why.replace("{inv}", str(tmp_path / "inv.ini"))
    assert f"orch.yaml:5:36: host 'group:web': {why}" in done.stderr, done.stderr


def test_an_inventory_host_name_that_is_no_one_line_label_is_refused(tmp_path: Path) -> None:
    """files6: a YAML inventory's host `"x\\n  ok: got file …"` printed as two lines of a
    fleet copy's report, the second a forged row for another target."""
    (tmp_path / "inv.yaml").write_text(
        'web:\n  hosts:\n    ok: {ansible_host: 127.0.0.1}\n'
        '    "x\\n  ok: got file": {ansible_host: 127.0.0.1}\n')
    (tmp_path / "orch.yaml").write_text(
        "inventory: [inv.yaml]\nenvironments:\n  web: [{type: ssh, config: {host: 'group:web'}}]\n")
    from orch_magics import load_config

    with pytest.raises(ConfigError) as err:
        load_config(str(tmp_path / "orch.yaml"))
    assert "inv.yaml:4:5: group 'web': host name 'x\\n  ok: got file' has the character " \
           "'\\n': names are shown one per line in reports" in str(err.value), err.value
    # files7: a group name too, matched by --limit and said in its errors
    (tmp_path / "inv.yaml").write_text('"web\\nforged":\n  hosts:\n    ok: {}\n')
    with pytest.raises(ConfigError, match=r"inv.yaml:1:1: group name 'web\\nforged' has the "
                                          r"character '\\n'"):
        load_config(str(tmp_path / "orch.yaml"))


@pytest.mark.parametrize(("entry", "key"), [("cafe\u0301", "caf\u00e9"), ("caf\u00e9", "cafe\u0301")])
def test_an_allowed_service_is_found_however_an_editor_saved_it(entry: str, key: str) -> None:
    """safety17: an `allow_services` entry saved decomposed (NFD) was refused as "unknown
    service 'café' (did you mean 'café'?)": names are held as NFC, that entry was not."""
    from orch_magics import Orchestrator, load_config_text

    text = (f"environments:\n  prod: {{allow_services: [{entry}], layers: []}}\n"
            f"services:\n  {key}: {{command: echo ran}}\n")
    with Orchestrator(load_config_text(text)) as orch:
        assert orch.run("prod", "caf\u00e9").stdout == "ran\n"
        assert orch.run("prod", "cafe\u0301").stdout == "ran\n"
