"""A plain Python program using the API, ended by TERM or HUP, leaves nothing running.

Left at their default, TERM (`kill`, a supervisor, a kernel manager giving up on a kernel) and
HUP (a closed terminal) end a process on the spot: no exit hook ran, and every run's process
lived on — locally in its own process group, and at the far end of a chain. Now they stop
every run first, then the program ends by that same signal, as it did. A handler the program
set itself, and an ignored HUP (`nohup`), are left as they were.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable

import pytest

from processes import kill_all, left_after, processes_with

#: Starts a named run in the background, then blocks in run(): both sleep at the far end.
SCRIPT = """
import signal, sys, time
from orch_magics import Orchestrator, load_config_text
env, token, own, config = sys.argv[1:5]
if own == "handler":
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(7))
elif own == "nohup":
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
orch = Orchestrator(load_config_text(config))
named = orch.start(env, command=f"exec sleep {token}1", name="named")
while named.pid is None:
    time.sleep(0.05)
print("running", flush=True)
orch.run(env, command=f"exec sleep {token}2")
print("run() returned", flush=True)
"""


LOCAL = "environments: {local: {layers: []}}\naudit: {enabled: false}\n"


def sleeping(token: str) -> list[int]:
    """This machine's `sleep TOKEN…` processes (not the program, whose argv holds the token)."""
    return processes_with(f"sleep\0{token}")  # argv is NUL-separated


def _far_end(chain: str, request: pytest.FixtureRequest) -> tuple[str, Callable[[str], list]]:
    """The config holding environment `chain`, and what runs `token` at its far end."""
    if chain == "local":
        return LOCAL, sleeping
    ssh_lab = request.getfixturevalue("ssh_lab")
    dockerd = request.getfixturevalue("dockerd")
    layers = [ssh_lab.layer("orch-bastion"), ssh_lab.layer("orch-inner"), dockerd.layer()]
    config = ssh_lab.config_yaml(extra_envs={"deep": layers}) + "audit: {enabled: false}\n"
    return config, lambda token: [p for p in dockerd.container_processes("orch-test")
                                  if token in p]


def _started(chain: str, token: str, own: str, config: str,
             far_end: Callable[[str], list]) -> subprocess.Popen[str]:
    """The program, once both of its runs are running at the far end."""
    proc = subprocess.Popen([sys.executable, "-c", SCRIPT, chain, token, own, config],
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline() == "running\n", proc.communicate(timeout=30)
        deadline = time.monotonic() + 30
        while len(far_end(token)) < 2:
            assert time.monotonic() < deadline, f"both runs never ran: {far_end(token)}"
            time.sleep(0.1)
    except BaseException:
        proc.kill()
        kill_all(processes_with(token))
        raise
    return proc


@pytest.mark.parametrize("chain, sig", [
    ("local", signal.SIGTERM),
    ("local", signal.SIGHUP),
    pytest.param("deep", signal.SIGTERM, marks=[pytest.mark.ssh, pytest.mark.docker]),
])
def test_a_program_ended_by_term_or_hup_stops_its_runs_first(
        chain: str, sig: signal.Signals, request: pytest.FixtureRequest) -> None:
    config, far_end = _far_end(chain, request)
    token = f"5{os.getpid()}{sig}"
    proc = _started(chain, token, "default", config, far_end)
    try:
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=30)
        assert proc.returncode == -sig, (out, err)  # ended by that signal, as before
        assert "Traceback" not in err and "run() returned" not in out, err
        assert left_after(lambda: far_end(token)) == []
    finally:
        proc.kill()
        kill_all(processes_with(token))


def test_a_handler_the_program_set_is_its_own_and_nohup_stays_ignored() -> None:
    token = f"6{os.getpid()}"
    own = _started("local", token + "1", "handler", LOCAL, sleeping)
    ignoring = _started("local", token + "2", "nohup", LOCAL, sleeping)
    try:
        own.send_signal(signal.SIGTERM)  # its handler exits 7; interpreter exit stops the runs
        assert own.wait(timeout=30) == 7, own.communicate()
        ignoring.send_signal(signal.SIGHUP)
        time.sleep(1)
        assert ignoring.poll() is None and len(sleeping(token + "2")) == 2
        ignoring.send_signal(signal.SIGTERM)
        assert ignoring.wait(timeout=30) == -signal.SIGTERM
        assert left_after(lambda: sleeping(token)) == []
    finally:
        own.kill()
        ignoring.kill()
        kill_all(processes_with(token))


def test_a_second_ctrl_c_as_orch_leaves_keeps_the_status_of_the_first(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A second INT landing while `orch run` was leaving (the loop torn down, Python's own
    exit) made it die of SIGINT (status -2 to its caller) or print a traceback, ~7 runs in
    100 (stop tester): once the first signal decided 130, later ones are ignored."""
    cfg = tmp_path / "orch.yaml"
    cfg.write_text(LOCAL)
    argv = [sys.executable, "-m", "orch_magics.cli", "-c", str(cfg), "run", "local", "--",
            "sh", "-c", "echo started; exec sleep 1000"]
    seen = []
    for i in range(40):  # the window is some ms wide, somewhere in the first ~100 ms
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE)
        assert proc.stdout is not None and proc.stdout.readline() == b"started\n"
        proc.send_signal(signal.SIGINT)
        time.sleep(0.0025 * i)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
        seen.append((proc.returncode, err.decode()))
    assert [s for s in seen if s != (130, "")] == []


@pytest.mark.parametrize("ignored", [(signal.SIGINT,), (signal.SIGINT, signal.SIGQUIT)])
def test_a_signal_ignored_here_is_not_ignored_by_the_process(ignored) -> None:  # type: ignore[no-untyped-def]
    """An idle ipykernel ignores SIGINT, and an ignored signal stays ignored across exec: a
    named run's restart (started between cells) ignored Stop's INT and died of the TERM two
    seconds later (held-out tester magics3). A process starts with their default action."""
    from orch_magics import Orchestrator, load_config_text

    before = {sig: signal.signal(sig, signal.SIG_IGN) for sig in ignored}
    try:
        with Orchestrator(load_config_text("environments: {local: {layers: []}}\n")) as orch:
            r = orch.run("local", command=["grep", "SigIgn", "/proc/self/status"])
            mask = int(r.stdout.split()[1], 16)
            assert not any(mask & (1 << (sig - 1)) for sig in ignored), r.stdout
            late = orch.spawn("local", command="echo up; sleep 30")
            while "up" not in "".join(late.lines):
                time.sleep(0.02)
            late.interrupt()
            assert late.wait(10).exit.signal == signal.SIGINT  # not the TERM after it
    finally:
        for sig, handler in before.items():
            signal.signal(sig, handler)
