"""A run ends when its main process does, even while something it left holds the output open.

The wrapper stops what is left of the process group; a child that started its own session
(`setsid`) or ignores SIGTERM is not followed, but before it kept the run open as long as it
held stdout: Ctrl-C could not end `orch run local` at all, and took ~15 s through ssh. Output
that such a child writes soon after the exit still arrives, and a slow reader loses nothing.
"""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.ssh

ENVS = ["local", "loop", "two"]


@pytest.fixture
def cfg(ssh_lab, tmp_path: Path) -> Path:  # type: ignore[no-untyped-def]
    path = tmp_path / "orch.yaml"
    path.write_text(ssh_lab.config_yaml(extra_envs={"local": []}))
    return path


def _orch(cfg: Path, env: str, script: str) -> list[str]:
    return [sys.executable, "-m", "orch_magics.cli", "-c", str(cfg), "run", env, "--",
            "sh", "-c", script]


def _kill_marked(mark: str) -> None:
    subprocess.run(["pkill", "-f", f"sleep {mark}"], capture_output=True)


@pytest.mark.parametrize("env", ENVS)
def test_ctrl_c_ends_the_run_while_an_escaped_child_holds_its_output(cfg: Path, env: str) -> None:
    mark = f"5679.{os.getpid() % 1000}{len(env)}"
    proc = subprocess.Popen(_orch(cfg, env, f"setsid sleep {mark} & echo started; sleep 300"),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert proc.stdout is not None and proc.stdout.readline() == b"started\n"
        time.sleep(0.3)  # not while sh forks `sleep 300`: a child forked after the INT misses it
        t0 = time.monotonic()
        proc.send_signal(signal.SIGINT)
        assert proc.wait(20) == 130
        took = time.monotonic() - t0
    finally:
        proc.kill()
        _kill_marked(mark)
    assert took < 5, f"Ctrl-C took {took:.1f}s"


@pytest.mark.parametrize("env", ENVS)
def test_a_child_that_ignores_sigterm_does_not_keep_the_run_open(cfg: Path, env: str) -> None:
    mark = f"5680.{os.getpid() % 1000}{len(env)}"
    script = f"trap '' TERM; (sleep 0.3; echo late; exec sleep {mark}) & echo hi"
    t0 = time.monotonic()
    try:
        done = subprocess.run(_orch(cfg, env, script), capture_output=True, timeout=60)
    finally:
        _kill_marked(mark)
    assert (done.returncode, done.stdout, done.stderr) == (0, b"hi\nlate\n", b"")
    assert time.monotonic() - t0 < 20  # not the child's 5680 s


@pytest.mark.parametrize("env", ENVS)
def test_a_slow_reader_still_gets_every_byte(cfg: Path, env: str) -> None:
    """The process ends long before its output is read: that is not an output held open."""
    done = subprocess.run(f"{shlex.join(_orch(cfg, env, 'head -c 50000000 /dev/zero'))} "
                          f"| (sleep 2; wc -c)", shell=True, capture_output=True, timeout=60)
    assert done.stdout.strip() == b"50000000", done.stderr


@pytest.fixture
def docker_cfg(ssh_lab, dockerd, tmp_path: Path) -> Path:  # type: ignore[no-untyped-def]
    path = tmp_path / "orch.yaml"
    path.write_text(ssh_lab.config_yaml(extra_envs={
        "box": [dockerd.layer()], "boxed": [ssh_lab.layer("orch-loop"), dockerd.layer()]}))
    return path


@pytest.mark.docker
@pytest.mark.parametrize("env", ["box", "boxed"])
def test_a_child_that_ignores_sigterm_does_not_keep_a_docker_run_open(
        dockerd, docker_cfg: Path, env: str) -> None:  # type: ignore[no-untyped-def]
    """chains8: through docker such a run waited for the engine to close the exec's stream
    (4.4 s here, measured by hand; 1.9 s now): it ends as every kind's does, with what
    comes within half a second or so of the exit (chains31: a line starting `Error: ` was
    dropped there as podman's)."""
    cfg = docker_cfg
    mark = f"5681.{os.getpid() % 1000}{len(env)}"
    script = (f"trap '' TERM; (sleep 0.3; echo late; echo 'Error: disk full' >&2; sleep 3; "
              f"echo held; exec sleep {mark}) & echo hi")
    try:
        done = subprocess.run(_orch(cfg, env, script), capture_output=True, timeout=60)
    finally:
        dockerd.api.exec_start(dockerd.api.exec_create("orch-test",
                                                       ["pkill", "-f", f"sleep {mark}"])["Id"])
    assert (done.returncode, done.stdout, done.stderr) == (0, b"hi\nlate\n",
                                                           b"Error: disk full\n")


@pytest.mark.docker
@pytest.mark.parametrize("env", ["box", "boxed"])
def test_a_slow_reader_of_a_docker_run_still_gets_every_byte(docker_cfg: Path,
                                                             env: str) -> None:
    """The exec's status line may come while its output still waits for the reader."""
    done = subprocess.run(f"{shlex.join(_orch(docker_cfg, env, 'head -c 50000000 /dev/zero'))}"
                          f" | (sleep 2; wc -c)", shell=True, capture_output=True, timeout=60)
    assert done.stdout.strip() == b"50000000", done.stderr


@pytest.mark.parametrize("timeout", [[], ["--timeout", "3"]])
@pytest.mark.parametrize("env", ENVS)
def test_a_daemon_that_never_stops_writing_does_not_keep_the_run(
        cfg: Path, env: str, timeout: list[str]) -> None:
    """chains26: a `setsid` daemon the command left, writing every 0.1 s, kept the run for ever
    (output followed until silent); past a `--timeout`, which found the command ended in time,
    not even Ctrl-C or SIGTERM ended orch. Its output is followed about 2 s after the exit, as
    docker's engine does, and the run ends with the command's status."""
    mark = f"5682.{os.getpid() % 1000}{len(env)}{len(timeout)}"
    script = (f"setsid sh -c ': {mark}; i=0; while [ $i -lt 600 ]; do echo spam; i=$((i+1)); "
              f"sleep 0.1; done' & sleep 0.2; echo main-done; exit 3")
    command = _orch(cfg, env, script)
    command[command.index("run") + 1:command.index("run") + 1] = timeout
    try:
        done = subprocess.run(command, capture_output=True, timeout=60)
    finally:
        subprocess.run(["pkill", "-f", f": {mark};"], capture_output=True)
    assert done.returncode == 3 and b"main-done\n" in done.stdout and b"spam\n" in done.stdout
