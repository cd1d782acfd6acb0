"""Command arguments that are not UTF-8 (a file name in another encoding: Python holds such
argv bytes as surrogates). Locally, through ssh and into a container (docker, podman) they
reach the command unchanged, in the argv and in a variable: the engine's API carries commands
as JSON text and would turn them into U+FFFD, another name, so a container's argv holding them
goes on the wrapper's stdin, as its variables do (it was refused); under a TTY, where nothing
goes on stdin, such a run is refused with a message. The audit log writes them as `\\xNN`. Before, a run through ssh died in asyncssh with a UnicodeEncodeError
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


ENVS = ["here", "loop", "two", "deep", "pod"]


@pytest.fixture
def config(ssh_lab, dockerd, podman) -> str:  # type: ignore[no-untyped-def]
    deep = [ssh_lab.layer("orch-bastion"), ssh_lab.layer("orch-inner"), dockerd.layer()]
    return str(ssh_lab.config_yaml(extra_envs={"here": [], "deep": deep, "pod": [podman.layer()],
                                               "tty": [dockerd.layer(tty=True)]}))


@pytest.mark.parametrize("env", ENVS)
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
    assert start["command"] == "printf %s $'caf\\xe9-\\xff.log'"  # as a shell reads it


@pytest.mark.parametrize("env", ENVS)
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


def test_a_container_run_under_a_tty_refuses_them(config: str) -> None:
    """Under a TTY the argv can only go in the engine's JSON: refused, saying what to do."""
    orch = Orchestrator(load_config_text(config))
    try:
        with pytest.raises(OrchError) as err:
            orch.run("tty", command=["ls", NAME])
        assert "hop 1 (docker orch-test): '" in str(err.value)
        assert ("caf\\xe9-\\xff.log' holds bytes that are not UTF-8: under a TTY (tty: true) the "
                "engine's API carries the command as text and would change them (run it without "
                "a TTY, or match such a name with a glob in sh -c)") in str(err.value)
        assert orch.run("tty", command=["ls", "/"]).ok
    finally:
        orch.close()


def test_a_path_holding_them_is_audited_too(tmp_path: Path) -> None:
    audit = tmp_path / "audit.jsonl"
    orch = Orchestrator(load_config_text(f"audit: {{path: '{audit}'}}\n"
                                         "environments: {local: {layers: []}}"))
    res = orch.run("local", command=["sh", "-c", 'test "$1" = "$(printf "\\377")"', "sh",
                                     os.fsdecode(b"\xff")])
    assert res.ok and verify(str(audit)) == (2, None)


@pytest.mark.parametrize("env", ["deep", "pod"])
def test_beside_them_every_argument_arrives_as_written(config: str, env: str) -> None:
    """Their arguments go through the shell's `set --` then: quotes, `$(…)`, backquotes,
    newlines and a leading `-` must arrive as written, and a missing program is said as such."""
    hostile = ["it's", '"$(touch /tmp/x)"', "`id`", "a\nb", "-n", "*", ""]
    orch = Orchestrator(load_config_text(config))
    try:
        res = orch.run(env, command=["printf", "[%s]", NAME, *hostile])
        missing = orch.run(env, command=[f"/no/{NAME}"])
    finally:
        orch.close()
    assert res.ok and res.stdout_buffer.getvalue() == b"".join(
        b"[" + os.fsencode(w) + b"]" for w in [NAME, *hostile])
    assert missing.returncode == 127 and "caf" in missing.stderr, missing
