"""A service's relative `working_dir` is taken from where its command would start without it:
the working directory a layer before it sets (config15: it was taken from the caller's own
folder locally, and was "not found" behind ssh, where the layer's folder holds it)."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from orch_magics import Orchestrator, load_config_text

SERVICES = """\
services:
  plain: {command: pwd}
  rel: {command: pwd, working_dir: logs}
  dot: {command: pwd, working_dir: .}
  absolute: {command: pwd, working_dir: /}
"""


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A layer's folder with `logs` in it, and a caller's folder with a `logs` of its own."""
    monkeypatch.setenv("ORCH_LOG_DIR", str(tmp_path / "runs"))
    (tmp_path / "layer" / "logs").mkdir(parents=True)
    (tmp_path / "caller" / "logs").mkdir(parents=True)
    monkeypatch.chdir(tmp_path / "caller")
    yield tmp_path / "layer"


def where(orch: Orchestrator, env: str, service: str) -> str:
    result = orch.run(env, service)
    assert result.ok, (service, result.stderr)
    return result.stdout.strip()


def test_locally_from_the_local_layers_folder(folder: Path) -> None:
    text = f"environments:\n  w: [{{type: local, config: {{working_dir: '{folder}'}}}}]\n"
    with Orchestrator(load_config_text(text + SERVICES)) as orch:
        assert [where(orch, "w", s) for s in ("plain", "rel", "dot", "absolute")] == [
            str(folder), str(folder / "logs"), str(folder), "/"]


@pytest.mark.ssh
def test_behind_ssh_from_the_local_layers_folder(folder: Path, ssh_lab: Any) -> None:
    os.chmod(folder.parent, 0o755)
    envs = {"w": [ssh_lab.layer("orch-loop"),
                  f"{{type: local, config: {{working_dir: '{folder}'}}}}"]}
    text = ssh_lab.config_yaml(envs, SERVICES.removeprefix("services:\n"))
    with Orchestrator(load_config_text(text)) as orch:
        assert [where(orch, "w", s) for s in ("plain", "rel", "dot")] == [
            str(folder), str(folder / "logs"), str(folder)]


def test_in_a_container_from_its_workdir(folder: Path, dockerd: Any) -> None:
    text = f"environments:\n  c: [{dockerd.layer(workdir='/')}]\n"
    with Orchestrator(load_config_text(text + SERVICES.replace("logs", "etc"))) as orch:
        assert [where(orch, "c", s) for s in ("plain", "rel", "dot")] == ["/", "/etc", "/"]


HOME_SERVICES = """\
services:
  home: {command: pwd, working_dir: "~"}
  below: {command: pwd, working_dir: "~/sub"}
"""


def test_a_tilde_is_the_home_of_the_user_it_runs_as(tmp_path: Path, ssh_lab: Any,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """config15: `working_dir: "~"` (or `~/app`) passed `orch check`, then every run said
    "working directory not found: ~": it was a folder named `~`. It is the home there."""
    monkeypatch.setenv("ORCH_LOG_DIR", str(tmp_path / "runs"))
    (tmp_path / "home" / "sub").mkdir(parents=True)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    envs = {"here": [], "loop": [ssh_lab.layer("orch-loop")],
            "there": [ssh_lab.layer("orch-loop"), "{type: local, config: {working_dir: '~'}}"]}
    text = ssh_lab.config_yaml(envs, HOME_SERVICES.removeprefix("services:\n")).replace(
        "  here:\n    layers:\n", "  here:\n    layers: []\n")
    far_home = subprocess.run(["sh", "-c", "getent passwd root | cut -d: -f6"],
                              capture_output=True, text=True).stdout.strip()
    with Orchestrator(load_config_text(text)) as orch:
        assert where(orch, "here", "home") == str(tmp_path / "home")
        assert where(orch, "here", "below") == str(tmp_path / "home" / "sub")
        assert where(orch, "loop", "home") == far_home
        result = orch.run("there", command="pwd")
        assert result.stdout.strip() == far_home, result
        # chains23: "working directory not found: ~/nope" named no home, on any chain
        for env, home in (("here", str(tmp_path / "home")), ("loop", far_home)):
            missing = orch.run(env, command="pwd", cwd="~/nope")
            assert missing.returncode == 126 and missing.stderr == (
                f"orch: working directory not found: ~/nope ({home}/nope)\n"), missing.stderr
            # review35: on an ssh hop the home's part was said raw: a newline, live escapes
            odd = orch.run(env, command="pwd", cwd="~/a\nb\x1b[31m")
            assert odd.stderr == (f"orch: working directory not found: ~/a\\nb\\x1b[31m "
                                  f"({home}/a\\nb\\x1b[31m)\n"), odd.stderr


def test_in_a_container_a_tilde_is_its_user_s_home(tmp_path: Path, dockerd: Any,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """review29: `working_dir: "~"` was refused in a container as "not absolute", where the
    docs say it is the home of the user the command runs as, where it runs."""
    monkeypatch.setenv("ORCH_LOG_DIR", str(tmp_path / "runs"))
    text = (f"environments:\n  c: [{dockerd.layer()}]\n"
            "services:\n  home: {command: 'pwd; echo \"$HOME\"', working_dir: '/'}\n")
    with Orchestrator(load_config_text(text)) as orch:
        home = orch.run("c", "home").stdout.splitlines()[1]
        assert home.startswith("/") and orch.run("c", command="mkdir -p ~").ok
        assert orch.run("c", command="pwd", cwd="~").stdout.strip() == home


def test_a_tilde_follows_the_home_a_service_gives(tmp_path: Path, ssh_lab: Any,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """review29: a service setting HOME moved `~` behind ssh but not locally; an empty one made
    `~/sub` the root's `/sub` there. Every layer now starts in the home the variables give, and
    an empty one is said, with status 126, as a folder that cannot be entered."""
    monkeypatch.setenv("ORCH_LOG_DIR", str(tmp_path / "runs"))
    (tmp_path / "given" / "sub").mkdir(parents=True)
    given = f"{{command: pwd, working_dir: '~/sub', environment: {{HOME: '{tmp_path}/given'}}}}"
    envs = {"here": [], "loop": [ssh_lab.layer("orch-loop")]}
    text = ssh_lab.config_yaml(envs, f"  given: {given}\n"
                                     "  empty: {command: pwd, working_dir: '~/sub', "
                                     "environment: {HOME: ''}}\n").replace(
        "  here:\n    layers:\n", "  here:\n    layers: []\n")
    with Orchestrator(load_config_text(text)) as orch:
        for env in ("here", "loop"):
            assert where(orch, env, "given") == str(tmp_path / "given" / "sub"), env
        for env in ("here", "loop"):  # review30: locally it ran in this user's home
            empty = orch.run(env, "empty")
            assert (empty.returncode, empty.stdout) == (126, ""), empty
            assert empty.stderr == ("orch: cannot enter working directory ~/sub: HOME is empty "
                                    "or not set\n"), empty


@pytest.mark.parametrize("shell", [["sh"], ["bash"], ["busybox", "sh"]])
def test_a_remote_home_with_control_characters_is_said_as_home(shell: list[str]) -> None:
    """chains24: behind an ssh, docker or sudo layer, the folder looked in for `~/nope` was
    said with the home raw: a newline split the message, escapes ran in the terminal."""
    from orch_magics.layers.remote import preamble
    from orch_magics.process.command import Command

    script = preamble(Command(("true",), cwd="~/nope")).decode()
    for home, said in (("/tmp/h0me", "/tmp/h0me/nope"), ("/tmp/a\nb\x1b]0;x\x07", "$HOME/nope")):
        ran = subprocess.run([*shell, "-c", script], capture_output=True, text=True,
                             env={"HOME": home, "PATH": os.environ["PATH"]}, timeout=30)
        assert (ran.returncode, ran.stderr) == (
            126, f"orch: working directory not found: ~/nope ({said})\n")
