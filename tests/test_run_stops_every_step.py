"""A stop reaches whatever step is running, and a broken input is never passed off as a whole.

Post commands are the clean-up, so a stop during the main command lets them run; but a stop
while one of them runs must stop it (before, the CLI ignored every Ctrl-C, TERM and HUP in the
post phase and a killed CLI left the post command running at the end of the chain). A stdin
source that fails part-way stops the command instead of closing its stdin: an importer must
not commit half a file as if it were all of it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from orch_magics import Orchestrator, RunResult, load_config_text

pytestmark = pytest.mark.ssh

SERVICES = """\
  slow-cleanup:
    command: 'echo main'
    post_commands:
      - {command: 'echo post-started; exec sleep @MARK@', when: always}
      - {command: 'echo second-post', when: always}
  failing-cleanup:
    command: 'exit 4'
    post_commands:
      - {command: 'trap "exit 0" INT; echo post-started; sleep @MARK@ & wait', when: always}
"""


def _alive(mark: str) -> bool:
    return subprocess.run(["pgrep", "-f", f"sleep {mark}"], capture_output=True).returncode == 0


def _gone(mark: str, within: float = 10.0) -> bool:
    deadline = time.monotonic() + within
    while _alive(mark):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


@pytest.fixture
def config(ssh_lab, tmp_path: Path):  # type: ignore[no-untyped-def]
    def write(mark: str) -> Path:
        cfg = tmp_path / "orch.yaml"
        cfg.write_text(ssh_lab.config_yaml(extra_envs={"local": []},
                                           services=SERVICES.replace("@MARK@", mark)))
        return cfg
    return write


@pytest.mark.parametrize("env", ["local", "loop", "two"])
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "term"])
def test_a_signal_during_a_post_command_stops_it_and_skips_the_rest(config, env: str,  # type: ignore[no-untyped-def]
                                                                     sig: signal.Signals) -> None:
    mark = f"2468.{os.getpid() % 1000}{sig.value}{len(env)}"
    cfg = config(mark)
    proc = subprocess.Popen([sys.executable, "-m", "orch_magics.cli", "-c", str(cfg), "run",
                             env, "slow-cleanup"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert proc.stderr is not None and proc.stdout is not None
        seen = b""
        while b"post-started" not in seen:  # a step's output is on orch's stderr
            line = proc.stderr.readline()
            assert line, seen
            seen += line
        assert _alive(mark)
        t0 = time.monotonic()
        proc.send_signal(sig)
        assert proc.wait(20) == 128 + sig  # in a post command too: the signal orch got
        took = time.monotonic() - t0
        rest = proc.stderr.read()
        assert proc.stdout.read() == b"main\n"
    finally:
        proc.kill()
    assert took < 10, f"the CLI took {took:.1f}s to stop a post command"
    assert b"second-post" not in seen + rest
    assert _gone(mark), "the post command outlived the stop"


def _stopped_in_post(text: str, env: str, service: str, mark: str, how: str = "interrupt"
                     ) -> RunResult:
    """The result of `service`, stopped (`how`) once its post command runs `sleep MARK`."""
    with Orchestrator(load_config_text(text)) as orch:
        live = orch.spawn(env, service)
        deadline = time.monotonic() + 20
        while not _alive(mark):
            assert time.monotonic() < deadline, "the post command never started"
            time.sleep(0.05)
        getattr(live, how)()
        return live.wait(15)


def test_kill_reaches_a_post_command_that_ignores_interrupts(config) -> None:  # type: ignore[no-untyped-def]
    mark = f"2469.{os.getpid() % 1000}"
    cfg = config(mark).read_text().replace("exec sleep", 'trap "" INT TERM; sleep')
    res = _stopped_in_post(cfg, "loop", "slow-cleanup", mark, "kill")
    (post,) = res.steps  # the second one was skipped
    assert post.step == "post" and post.exit.signal == signal.SIGKILL, post.stderr
    assert _gone(mark)


@pytest.mark.parametrize("env", ["local", "loop"])
def test_an_interrupt_during_a_post_command_is_said_as_a_stop(config, env: str) -> None:  # type: ignore[no-untyped-def]
    """chains15: the result said `exit 0, post command failed (killed by SIGINT)` with
    `interrupted` false, while a notebook raised RunInterrupted for it."""
    mark = f"2470.{os.getpid() % 1000}{len(env)}"
    res = _stopped_in_post(config(mark).read_text(), env, "slow-cleanup", mark)
    assert (res.interrupted, res.ok, res.returncode) == (True, False, 0), res
    assert res.outcome() == "interrupted during the post command (killed by SIGINT), after " \
        "exit 0"
    assert "was interrupted during post command 'echo post-started; exec sleep" in \
        res.describe_failure() and res.exit_status == 130, res.describe_failure()
    assert _gone(mark)
    # basics13: after a command that failed by itself, said as a stop of that command; and
    # a post command that traps INT and exits 0 gave exit_status 0
    res = _stopped_in_post(config(mark).read_text(), env, "failing-cleanup", mark)
    assert res.outcome() == "exit 4, then interrupted during the post command (exit 0)", res
    assert "interrupted during post command 'trap" in res.describe_failure() and \
        "after the command ended (exit 4)" in res.describe_failure(), res.describe_failure()
    assert (res.interrupted, res.exit_status) == (True, 130)


@pytest.mark.parametrize("env", ["local", "loop", "two"])
def test_a_stdin_source_that_fails_part_way_stops_the_command_instead_of_an_eof(
        ssh_lab, env: str) -> None:  # type: ignore[no-untyped-def]
    def rows():  # type: ignore[no-untyped-def]
        yield "row 1\n"
        time.sleep(0.3)
        raise ValueError("the database cursor died")

    text = ssh_lab.config_yaml(extra_envs={"local": []})
    with Orchestrator(load_config_text(text)) as orch:
        res = orch.run(env, command=["sh", "-c", "cat > /dev/null && echo COMMITTED"],
                       stdin=rows())
    assert "COMMITTED" not in res.stdout
    assert not res.ok and "the database cursor died" in str(res.exit.error)
