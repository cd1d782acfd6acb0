"""A chain that could never run is refused when the config loads, at the layer's line.

Before, `ssh → sudo root → docker` or `sudo → ssh` passed `orch check` and every run failed at
the hop that could not be reached (and a podman layer's message spoke of a docker socket).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from orch_magics import load_config_text
from orch_magics.errors import ConfigError

SSH = "{type: ssh, config: {host: h}}"
SUDO = "{type: sudo, config: {user: root}}"
ENV = "{type: local, config: {environment: {A: b}}}"
DOCKER = "{type: docker, config: {container: c}}"
PODMAN = "{type: podman, config: {container: c}}"
TCP_DOCKER = "{type: docker, config: {container: c, docker_host: 'tcp://127.0.0.1:2375'}}"


def _config(*layers: str) -> str:
    return "environments:\n  e:\n    layers:" + ("".join(f"\n      - {x}" for x in layers) or " []") + "\n"


@pytest.mark.parametrize("layers, line, message", [
    ((SSH, SUDO, DOCKER), 6, "docker c cannot follow sudo root: it needs its engine's unix "
                             "socket, reached from this machine, and only this machine and ssh "
                             "layers forward one"),
    ((SUDO, PODMAN), 5, "podman c cannot follow sudo root"),
    ((SUDO, ENV, SSH), 6, "ssh h cannot follow sudo root: it needs a connection to another "
                          "host, and only this machine and ssh layers carry one"),
    ((DOCKER, SSH), 5, "ssh h cannot follow docker c"),
    ((SSH, TCP_DOCKER), 5, "it needs to be on this machine (a tcp:// engine), and it must be "
                           "the first layer"),
], ids=["ssh-sudo-docker", "sudo-podman", "sudo-env-ssh", "docker-ssh", "tcp-engine-behind-ssh"])
def test_a_chain_that_cannot_run_is_refused_at_the_layer(layers, line: int, message: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ConfigError) as err:
        load_config_text(_config(*layers))
    assert f":{line}:" in str(err.value) and message in str(err.value)


@pytest.mark.parametrize("layers", [
    (SSH, SUDO), (SSH, SSH, DOCKER), (SSH, DOCKER, ENV), (SUDO,), (DOCKER, SUDO),
    (TCP_DOCKER,), (SSH, PODMAN), (SSH, SSH, ENV), (ENV, SUDO),  # sudo is started through it
    ("{type: local}", SSH),  # a layer that sets nothing
])
def test_chains_that_can_run_load(layers: tuple[str, ...]) -> None:
    assert load_config_text(_config(*layers)).environments["e"].layers


def test_orch_check_says_it_with_file_and_line(tmp_path: Path) -> None:
    cfg = tmp_path / "orch.yaml"
    cfg.write_text(_config(SSH, SUDO, DOCKER))
    r = subprocess.run([sys.executable, "-m", "orch_magics.cli", "-c", str(cfg), "check"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode != 0 and f"{cfg}:6:9: environment 'e': docker c cannot follow" in r.stderr
    assert "Traceback" not in r.stderr


@pytest.mark.parametrize("value", ["{}", "''", "0", "false"])
def test_layers_that_are_not_a_list_are_refused_even_when_empty(value: str) -> None:
    """`layers: {}` passed as an empty list (this machine) where it is a mistake."""
    with pytest.raises(ConfigError, match=r"<string>:3:13: environments.e.layers must be a list"):
        load_config_text(f"environments:\n  e:\n    layers: {value}\n")


def test_an_environment_without_layers_written_runs_on_this_machine() -> None:
    config = load_config_text("environments:\n  e:\n    layers: []\n  f: {}\n  g: []\n")
    assert config.environments["e"].layers == config.environments["f"].layers == ()
    assert config.environments["g"].layers == ()


@pytest.mark.parametrize("text, said", [
    ("environments:\n  prod:\n    protected: true\n    layers:\n      # - ssh bastion\n",
     "conf.yaml:4:5: environments.prod.layers is empty (nothing after its colon: its items "
     "commented out?): write `layers: []` to run on this machine"),
    ("environments:\n  prod:\n    # - ssh bastion\n  local: []\n",
     "conf.yaml:2:3: environments.prod is empty (nothing after its colon: its layers commented "
     "out?): write `prod: []` to run on this machine"),
    ("environments:\n  e:\n    layers:\n      - type: sudo\n        config:\n"
     "          # user: app\n",
     "conf.yaml:5:9: environments.e.layers[0].config is empty (nothing after its colon: its "
     "settings commented out?): write `config: {}` for the kind's defaults"),
    ("environments: {e: []}\nservices:\n  s:\n    command: x\n    filters:\n"
     "      # - {type: grep, pattern: ERROR}\n",
     "conf.yaml:5:5: services.s.filters is empty (nothing after its colon: its items commented "
     "out?): leave it out for no filter"),
])
def test_layers_or_settings_left_empty_are_refused_at_their_line(text: str, said: str) -> None:
    """config17: with its layers commented out a protected prod ran on this machine (`rm -f
    ./cache.db` deleted the operator's file), and a sudo layer whose settings were commented
    out ran as root; `layers: []` and `config: {}` say so on purpose."""
    with pytest.raises(ConfigError) as err:
        load_config_text(text, "conf.yaml")
    assert str(err.value).splitlines()[0] == said


@pytest.mark.parametrize("layers, line, message", [
    ((ENV, SSH, SSH), 6, "env(A) before ssh h has no effect: ssh h is reached from this place, "
                         "and no command is started through env(A); write it after ssh h"),
    ((SSH, ENV, DOCKER), 7, "env(A) before docker c has no effect"),
    ((ENV, PODMAN), 6, "env(A) before podman c has no effect"),
], ids=["env-ssh", "ssh-env-docker", "env-podman"])
def test_a_layer_that_sets_what_no_command_sees_is_refused_where_it_is_used(
        tmp_path: Path, layers: tuple[str, ...], line: int, message: str) -> None:
    """chains12: the variables and directory of a local layer right before a hop reached from
    its place (a connection, an engine's socket) reached no command, without a word. review21:
    refused when that environment is used or checked, not at load: the others still run."""
    from orch_magics import Orchestrator

    text = "environments:\n  fine:\n    layers: []\n" + _config(*layers).split("\n", 1)[1]
    cfg = tmp_path / "orch.yaml"
    cfg.write_text(text)
    with Orchestrator(load_config_text(text, name=str(cfg))) as orch:
        with pytest.raises(ConfigError, match=f"{cfg}:{line}: environment 'e': ") as err:
            orch.plan("e", command="true")
        assert message in str(err.value)
        assert orch.run("fine", command="true").ok
    r = subprocess.run([sys.executable, "-m", "orch_magics.cli", "-c", str(cfg), "check"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and message in r.stderr and "fine" in r.stdout, (r.stdout, r.stderr)


def test_an_ssh_layers_relative_files_are_read_beside_its_config(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch
                                                                 ) -> None:
    """config17: a relative identity_file, known_hosts or ssh_config was read from orch's
    working folder (`-c ../ops/orch.yaml`, a notebook after `%cd`): missing there, or another
    folder's file of that name used without a word; audit.path and secrets.file are read
    beside the config. `~`, absolute and placeholder paths stay as written."""
    from orch_magics import load_config

    (tmp_path / "ops").mkdir()
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "ops" / "orch.yaml").write_text(
        "environments:\n  e: [{type: ssh, config: {host: h, identity_file: keys/id, "
        "known_hosts: kh, ssh_config: sc}}]\n"
        "  f: [{type: ssh, config: {host: h, identity_file: ~/k, known_hosts: /etc/kh, "
        "ssh_config: '{{env:HOME}}/sc'}}]\n")
    monkeypatch.chdir(tmp_path / "elsewhere")
    config = load_config("../ops/orch.yaml")
    e, f = (config.environments[n].layers[0].config for n in ("e", "f"))
    ops = tmp_path / "ops"
    assert (e.identity_file, e.known_hosts, e.ssh_config) == (
        str(ops / "keys/id"), str(ops / "kh"), str(ops / "sc"))
    assert (f.identity_file, f.known_hosts, f.ssh_config) == ("~/k", "/etc/kh", "{{env:HOME}}/sc")
