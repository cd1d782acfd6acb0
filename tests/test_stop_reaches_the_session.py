"""A stop reaches every process of the run's session, and many stops at once on one pooled
connection all land.

GNU `timeout` (common in runbooks: `timeout 600 pg_dump …`) puts itself in a process group of
its own in the same session, so signalling the run's group left it running for its whole
time, locally and at the far end of every chain. And with nine runs on one root login (whose
session signals sshd refuses), each stop opened its own `kill` channel at once: all but one were
refused "no more sessions", their signals silently lost, the runs reported a paused container
and processes were left (held-out tester, chains findings 2 and 4)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from orch_magics import Orchestrator, load_config_text
from processes import left_after, processes_with

pytestmark = pytest.mark.ssh


@pytest.fixture
def orch(ssh_lab):  # type: ignore[no-untyped-def]
    o = Orchestrator(load_config_text(ssh_lab.config_yaml(extra_envs={"local": []})))
    yield o
    o.close()


@pytest.mark.parametrize("env", ["local", "loop", "two"])
@pytest.mark.parametrize("how", ["interrupt", "kill"])
def test_a_stop_reaches_a_timeout_in_a_group_of_its_own(orch: Orchestrator, env: str,
                                                         how: str) -> None:
    mark = f"{os.getpid() % 1000}{len(env)}{len(how)}.75"
    run = orch.spawn(env, command=["sh", "-c", f"echo ready; timeout 300 sleep {mark}"])
    deadline = time.monotonic() + 30
    while len(processes_with(mark)) < 3:  # sh, timeout, sleep
        assert time.monotonic() < deadline and not run.done, run
        time.sleep(0.05)
    getattr(run, how)()
    result = run.wait(30)
    assert result.interrupted, result
    assert left_after(lambda: processes_with(mark, zombies=False), 10) == []


def test_the_cli_stopped_by_ctrl_c_leaves_no_timeout(ssh_lab, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    cfg = tmp_path / "orch.yaml"
    cfg.write_text(ssh_lab.config_yaml())
    mark = f"{os.getpid() % 1000}.76"
    proc = subprocess.Popen([sys.executable, "-m", "orch_magics.cli", "-c", str(cfg), "run",
                             "two", "--", "timeout", "300", "sleep", mark])
    try:
        deadline = time.monotonic() + 30
        while len(processes_with(mark)) < 3:  # sh, timeout, sleep
            assert time.monotonic() < deadline
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        assert proc.wait(30) == 130
    finally:
        proc.kill()
    assert left_after(lambda: processes_with(mark, zombies=False), 10) == []


@pytest.mark.parametrize("env", ["loop", "two"])
def test_many_stops_at_once_on_one_connection_all_land(orch: Orchestrator, env: str) -> None:
    mark = f"{os.getpid() % 1000}{len(env)}.77"
    runs = [orch.spawn(env, command=["sh", "-c", f"sleep {mark}{i} & echo ready; wait"])
            for i in range(12)]
    # every run's own `sleep` (its wrappers hold the mark in their argv too, from the start)
    sleeps = [f"sleep\0{mark}{i}\0" for i in range(12)]
    deadline = time.monotonic() + 60
    while waiting := [s for s in sleeps if not processes_with(s)]:
        assert time.monotonic() < deadline, waiting
        time.sleep(0.05)
    for run in runs:
        run.interrupt()
    results = [run.wait(60) for run in runs]
    # each INT landed: none had to be escalated to TERM or KILL by the stop ladder
    assert [r.returncode for r in results] == [-2] * 12, [
        (i, r.exit, r.stderr[-300:]) for i, r in enumerate(results) if r.returncode != -2]
    assert left_after(lambda: processes_with(mark, zombies=False), 10) == []


@pytest.mark.parametrize("env", ["loop", "two"])
def test_a_stop_while_the_program_is_looked_for_ends_the_run_unstarted(
        orch: Orchestrator, env: str, tmp_path: Path) -> None:
    """The wrapper looks the program up on PATH with its stop traps set: an interrupt that came
    then was kept, the program started anyway and ran until the stop ladder sent TERM (a
    fresh-clone CI run: one stop of twelve lost). And the look-up went on to its end, so the
    ladder's TERM, 2 s after the INT, replaced the stop it had kept (chains15)."""
    mark = f"{os.getpid() % 1000}{len(env)}.78"
    ran = tmp_path / "ran"
    # a long PATH before the one that holds `sh`: the look-up takes about 3 s (dash, 124 kB)
    path = ":".join(f"/n/{i:x}" for i in range(16000)) + ":" + os.environ["PATH"]
    run = orch.spawn(env, command=["sh", "-c", f"touch {ran}; sleep {mark}"], env={"PATH": path})
    deadline = time.monotonic() + 30
    while not processes_with(mark):  # the wrapper is there: its look-up comes next
        assert time.monotonic() < deadline and not run.done, run
        time.sleep(0.01)
    time.sleep(0.2)
    assert not ran.exists(), "the look-up ended before the stop: make PATH longer"
    run.interrupt()
    result = run.wait(30)
    assert result.returncode == -2, result.exit
    assert not ran.exists()
    assert left_after(lambda: processes_with(mark, zombies=False), 10) == []
