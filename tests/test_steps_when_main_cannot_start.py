"""A main command that cannot start after its pre commands ran ends the same way in every layer:
a failed result (126 for a working directory, with the reason), the pre results kept and the
`when: always` clean-up run. Local and docker raised instead, losing both."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from orch_magics import Orchestrator
from orch_magics.config.loader import load_config_text

#: 3 MB of arguments, more than any layer here can start (Linux takes about 2 MiB in all).
TOO_LONG = ", ".join(["x" * 100_000] * 30)

SERVICES = f"""
services:
  nowhere:
    command: 'echo main'
    working_dir: /nonexistent-dir
    pre_commands: [{{command: 'echo pre-ran', working_dir: /tmp}}]
    post_commands: [{{command: 'echo cleanup', when: always, working_dir: /tmp}}]
  in-a-file:
    command: 'echo main'
    working_dir: /etc/passwd
    pre_commands: [{{command: 'echo pre-ran', working_dir: /tmp}}]
    post_commands: [{{command: 'echo cleanup', when: failure, working_dir: /tmp}}]
  too-long:
    command: [echo, {TOO_LONG}]
    pre_commands: [{{command: 'echo pre-ran'}}]
    post_commands: [{{command: 'echo cleanup', when: always}}]
"""


@pytest.fixture(scope="module")
def orch(ssh_lab, dockerd) -> Iterator[Orchestrator]:  # type: ignore[no-untyped-def]
    layers = {"local": "", "loop": ssh_lab.layer("orch-loop"), "dock": dockerd.layer()}
    text = "environments:\n" + "".join(f"  {name}:\n    layers: [{layer}]\n"
                                       for name, layer in layers.items())
    o = Orchestrator(load_config_text(text + SERVICES))
    yield o
    o.close()


@pytest.mark.parametrize("env", ["local", "loop", "dock"])
@pytest.mark.parametrize("service, why", [
    ("nowhere", "orch: working directory not found: /nonexistent-dir\n"),
    ("in-a-file", "orch: not a directory: /etc/passwd\n"),
])
def test_a_working_directory_it_cannot_enter_is_126_and_the_clean_up_runs(
        orch: Orchestrator, env: str, service: str, why: str) -> None:
    r = orch.run(env, service, timeout=60)
    assert (r.returncode, r.stderr, r.ok) == (126, why, False)
    assert [(s.step, s.stdout) for s in r.steps] == [("pre", "pre-ran\n"), ("post", "cleanup\n")]


@pytest.mark.parametrize("env", ["local", "loop", "dock"])
def test_a_launch_error_after_the_pre_commands_is_the_runs_result(orch: Orchestrator,
                                                                   env: str) -> None:
    r = orch.run(env, "too-long", timeout=60)
    assert not r.ok and r.returncode is None
    assert "the command is too long" in str(r.error)
    assert "too long" in r.describe_failure()
    assert [(s.step, s.stdout) for s in r.steps] == [("pre", "pre-ran\n"), ("post", "cleanup\n")]


def test_the_command_line_reports_it_and_json_carries_the_steps(tmp_path: Path) -> None:
    config = tmp_path / "orch.yaml"
    config.write_text("environments:\n  local: {layers: []}\n" + SERVICES)
    cli = [sys.executable, "-m", "orch_magics.cli", "-c", str(config), "run"]
    r = subprocess.run([*cli, "local", "nowhere"], capture_output=True, timeout=60)
    assert r.returncode == 126
    said = r.stderr.decode().splitlines()  # the steps' output is on orch's stderr
    assert r.stdout == b"" and said[0] == "pre-ran" and "cleanup" in said, said
    assert "orch: working directory not found: /nonexistent-dir" in said
    r = subprocess.run([*cli, "--json", "local", "too-long"], capture_output=True, timeout=60)
    data = json.loads(r.stdout)
    assert r.returncode != 0 and "the command is too long" in data["error"]
    assert [s["stdout"] for s in data["steps"]] == ["pre-ran\n", "cleanup\n"]
    # which is which (s9-newcomer #8): a failed pre means the command never ran, a post it did
    assert (data["step"], [s["step"] for s in data["steps"]]) == (None, ["pre", "post"])


def test_an_output_file_it_cannot_open_after_the_pre_commands_is_the_runs_result(
        tmp_path: Path) -> None:
    """review-s9 #2: a stdout_file that is a folder raised after the pre commands ran: the
    result said "nothing started", listed no step, and the `when: always` clean-up never ran.
    (A folder there before the run is refused before any step: the pre command makes it.)"""
    text = ("environments:\n  local: []\nservices:\n  dump:\n    command: 'echo main'\n"
            "    stdout_mode: file\n    stdout_file: out\n"
            "    pre_commands: [{command: 'mkdir out; echo pre-ran'}]\n"
            "    post_commands: [{command: 'echo cleanup', when: always}]\n")
    with Orchestrator(load_config_text(text), log_dir=tmp_path / "logs") as o:
        here = os.getcwd()
        os.chdir(tmp_path)  # stdout_file is relative to where the run starts
        try:
            r = o.run("local", "dump", timeout=60)
        finally:
            os.chdir(here)
    assert not r.ok and r.returncode is None and r.error is not None
    assert [(s.step, s.stdout) for s in r.steps] == [("pre", "pre-ran\n"), ("post", "cleanup\n")]
