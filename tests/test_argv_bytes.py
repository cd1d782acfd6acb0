"""Command arguments that are not UTF-8 (a file name in another encoding: Python holds such
argv bytes as surrogates). Locally and through ssh they reach the command unchanged, in the
argv and in a variable; the docker engine's API carries commands as JSON text and would turn
them into U+FFFD, another name, so a container run is refused with a message; the audit log
writes them as `\\xNN`. Before, a run through ssh died in asyncssh with a UnicodeEncodeError
traceback, and so did every audited run (hashing its record)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from orch_magics import Orchestrator, load_config_text
from orch_magics.audit import verify
from orch_magics.errors import OrchError

pytestmark = [pytest.mark.docker, pytest.mark.ssh]

NAME = os.fsdecode(b"caf\xe9-\xff.log")  # Latin-1 bytes, as Python holds them in argv


@pytest.fixture
def config(ssh_lab, dockerd) -> str:  # type: ignore[no-untyped-def]
    deep = [ssh_lab.layer("orch-bastion"), ssh_lab.layer("orch-inner"), dockerd.layer()]
    return str(ssh_lab.config_yaml(extra_envs={"here": [], "deep": deep}))


@pytest.mark.parametrize("env", ["here", "loop", "two"])
def test_bytes_that_are_not_utf8_reach_the_command_unchanged(config, env, tmp_path) -> None:  # type: ignore[no-untyped-def]
    audit = tmp_path / "audit.jsonl"
    orch = Orchestrator(load_config_text(f"audit: {{path: '{audit}'}}\n{config}"))
    try:
        res = orch.run(env, command=["printf", "%s", NAME])
    finally:
        orch.close()
    assert res.ok and res.stdout_buffer.getvalue() == b"caf\xe9-\xff.log"
    assert verify(str(audit))[1] is None
    [start] = [r for r in map(json.loads, audit.read_text().splitlines()) if r["event"] == "start"]
    assert start["command"] == "printf %s 'caf\\xe9-\\xff.log'"


@pytest.mark.parametrize("env", ["here", "loop", "two"])
def test_a_variable_holding_them_reaches_the_command_unchanged(config, env) -> None:  # type: ignore[no-untyped-def]
    """Remote variables travel in the wrapper's preamble, which was encoded strictly: a
    UnicodeEncodeError (through ssh, and through sudo, whose preamble is the same)."""
    orch = Orchestrator(load_config_text(config))
    try:
        res = orch.run(env, command=["sh", "-c", 'printf %s "$F"'], env={"F": NAME})
    finally:
        orch.close()
    assert res.ok and res.stdout_buffer.getvalue() == b"caf\xe9-\xff.log"


def test_the_cli_passes_them_through_ssh_without_a_traceback(config, tmp_path) -> None:  # type: ignore[no-untyped-def]
    cfg = tmp_path / "orch.yaml"
    cfg.write_text(config)
    done = subprocess.run([sys.executable, "-m", "orch_magics.cli", "-c", str(cfg), "run", "two",
                           "--", "printf", "%s", os.fsencode(NAME)], capture_output=True,
                          timeout=60)
    assert (done.returncode, done.stdout, done.stderr) == (0, b"caf\xe9-\xff.log", b"")


def test_a_container_run_refuses_them_in_an_argument_and_carries_them_in_a_variable(
        config: str) -> None:
    """The engine's API carries an argv as text: refused. A variable goes on the wrapper's
    stdin, as over ssh, so its bytes arrive as they are (it was refused too)."""
    orch = Orchestrator(load_config_text(config))
    try:
        with pytest.raises(OrchError) as err:
            orch.run("deep", command=["ls", NAME])
        assert "hop 3 (docker orch-test): '" in str(err.value)
        assert ("caf\\xe9-\\xff.log' holds bytes that are not UTF-8: the engine's API carries "
                "commands as text and would change them") in str(err.value)
        res = orch.run("deep", command=["sh", "-c", 'printf %s "$F"'], env={"F": NAME})
        assert res.ok and res.stdout_buffer.getvalue() == b"caf\xe9-\xff.log"
    finally:
        orch.close()


def test_a_path_holding_them_is_audited_too(tmp_path: Path) -> None:
    audit = tmp_path / "audit.jsonl"
    orch = Orchestrator(load_config_text(f"audit: {{path: '{audit}'}}\n"
                                         "environments: {local: {layers: []}}"))
    res = orch.run("local", command=["sh", "-c", 'test "$1" = "$(printf "\\377")"', "sh",
                                     os.fsdecode(b"\xff")])
    assert res.ok and verify(str(audit)) == (2, None)
