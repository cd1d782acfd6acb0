"""A stop (Ctrl-C, a kernel interrupt, the box's Stop) or a timeout that comes while a pre
command runs reads as what it is, in the API's result, the CLI and the cell: the run was
interrupted (or timed out) and its command never ran. It read as a failure of the pre command
(`✗ pre command failed (killed by SIGINT), not run`), which nobody had caused."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from lab_kernel import lab_kernel
from orch_magics import Orchestrator, load_config_text


def config(tmp_path: Path) -> Path:
    """`local` with services whose pre command says it began (a file), then sleeps."""
    began = tmp_path / "began"
    pre = f"{{command: 'echo pre-b; touch {began}; sleep 22'}}"
    cfg = tmp_path / "orch.yaml"
    cfg.write_text("environments:\n  local: {layers: []}\nservices:\n"
                   f"  blockpre: {{command: 'echo main', pre_commands: [{pre}]}}\n"
                   f"  slowpre: {{command: cat, stdin_mode: streaming, pre_commands: [{pre}]}}\n")
    return cfg


def when_begun(tmp_path: Path, then: object, timeout: float = 30) -> threading.Thread:
    """Call `then()` in a thread once the pre command has begun."""
    def wait() -> None:
        deadline = time.monotonic() + timeout
        while not (tmp_path / "began").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        then()  # type: ignore[operator]

    thread = threading.Thread(target=wait, daemon=True)
    thread.start()
    return thread


def test_the_api_result_is_interrupted_or_timed_out_not_a_failed_pre_command(
        tmp_path: Path) -> None:
    orch = Orchestrator(load_config_text(config(tmp_path).read_text()))
    try:
        live = orch.spawn("local", "blockpre")
        when_begun(tmp_path, live.interrupt).join()
        r = live.wait(30)
        assert (r.interrupted, r.timed_out, r.ok, r.exit_status) == (True, False, False, 130)
        said = r.describe_failure()
        assert said.startswith("local/blockpre was interrupted after "), said
        assert said.endswith("during pre command 'echo pre-b; touch "
                             f"{tmp_path / 'began'}; sleep 22' (killed by SIGINT); not run"), said
        assert live.state == "stopped"
        assert [s.step for s in r.steps] == ["pre"]
        late = orch.run("local", "blockpre", timeout=1)
        assert (late.timed_out, late.interrupted, late.exit_status) == (True, False, 124)
        assert "timed out after 1." in late.describe_failure()
        assert "(limit 1s) during pre command" in late.describe_failure()
    finally:
        orch.close()


def test_a_pre_command_that_exits_0_on_the_stop_still_gives_130(tmp_path: Path) -> None:
    """The pre command traps INT and exits 0: the run was still stopped before its command,
    and its status said 0 (the trap's), as if it had succeeded."""
    began = tmp_path / "began"
    pre = f"trap 'exit 0' INT TERM; touch {began}; sleep 30 & wait"
    orch = Orchestrator(load_config_text(
        "environments:\n  local: {layers: []}\nservices:\n"
        f"  traps: {{command: 'echo main', pre_commands: [{{command: \"{pre}\"}}]}}\n"))
    try:
        live = orch.spawn("local", "traps")
        when_begun(tmp_path, live.interrupt).join()
        r = live.wait(30)
        assert (r.interrupted, r.ok, r.exit_status) == (True, False, 130), r
        assert r.stdout == ""  # the command never ran
    finally:
        orch.close()


def test_ctrl_c_during_a_pre_command_of_the_cli_says_interrupted(tmp_path: Path) -> None:
    proc = subprocess.Popen([sys.executable, "-m", "orch_magics.cli", "-c",
                             str(config(tmp_path)), "run", "local", "blockpre"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    when_begun(tmp_path, lambda: proc.send_signal(signal.SIGINT))
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130
    assert out == b""  # the command never ran; its pre command's output is on stderr
    said = err.decode()
    assert said.startswith("pre-b\norch: local/blockpre was interrupted after "), said
    assert "failed" not in said


def test_the_cell_says_interrupted_during_the_pre_step(orch_kernel: str, tmp_path: Path) -> None:
    """A kernel interrupt of a blocking cell, and the box's Stop of a stdin run."""
    cfg = config(tmp_path)
    with lab_kernel(orch_kernel) as kernel:
        assert kernel.run("load", f"%orch load {cfg}")["status"] == "ok"
        when_begun(tmp_path, kernel.km.interrupt_kernel)
        assert kernel.run("block", "%orch local blockpre")["status"] == "error"
        said = kernel.text("block")
        assert "✗ interrupted during the pre command (killed by SIGINT), not run" in said, said
        assert "RunInterrupted: local/blockpre was interrupted after " in said, said
        assert "pre command failed" not in said and "failed (killed" not in said, said
        (tmp_path / "began").unlink()
        assert kernel.run("box", "%orch local slowpre --out s")["status"] == "ok"
        when_begun(tmp_path, lambda: kernel.click("Stop")).join()
        said = kernel.wait_for("box", "✗")
        assert "✗ interrupted during the pre command (killed by SIGINT), not run" in said, said
        kernel.run("state", "print(s.state, s.result().interrupted)")
        assert kernel.text("state") == "stopped True\n"


def test_a_timeout_after_pre_commands_says_the_time_they_took(tmp_path: Path) -> None:
    """The limit counts the pre commands too (docs/services.md): with a 1.5 s pre command and
    `timeout: 2` the message read "timed out after 0.5s (limit 2s)", the time of the command
    alone, as if the limit had not been kept (held-out tester)."""
    orch = Orchestrator(load_config_text(
        "environments:\n  local: {layers: []}\nservices:\n"
        "  late: {command: 'echo main; sleep 30', timeout: 2,\n"
        "         pre_commands: [{command: 'sleep 1.5; echo pre'}]}\n"))
    try:
        r = orch.run("local", "late")
    finally:
        orch.close()
    assert r.timed_out and r.stdout == "main\n" and [s.step for s in r.steps] == ["pre"]
    said = r.describe_failure()
    pre = r.steps[0].duration
    assert said == (f"local/late timed out after {pre + r.duration:.1f}s, {pre:.1f}s of it in "
                    f"pre commands (limit 2s) and was stopped"), said


@pytest.mark.parametrize(("main", "mode", "ended"), [
    ("echo main", "", "exit 0"),
    # review33: a command killed by a signal was said nowhere (130 hid its own 143), and a
    # file-mode run no longer said where its stdout went
    ("echo main; kill -TERM $$", "", "killed by SIGTERM"),
    ("echo main", ", stdout_mode: file, stdout_file: out/x.out", "exit 0")],
    ids=["exit", "signal", "file"])
def test_ctrl_c_during_a_post_command_of_the_cli_says_the_command_had_ended(
        tmp_path: Path, main: str, mode: str, ended: str) -> None:
    """chains22: interrupted in its clean-up, after a main command that succeeded, `orch run`
    exited 130 without a word (130 reads as "the command was interrupted"); the API said
    "interrupted during the post command …, after exit 0". The CLI says it too."""
    began = tmp_path / "began"
    cfg = tmp_path / "orch.yaml"
    cfg.write_text("environments:\n  local: {layers: []}\nservices:\n"
                   f"  posthang: {{command: '{main}'{mode}, post_commands: [{{command: "
                   f"'echo post-b; touch {began}; sleep 22', when: always}}]}}\n")
    proc = subprocess.Popen([sys.executable, "-m", "orch_magics.cli", "-c", str(cfg), "run",
                             "local", "posthang"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            cwd=tmp_path)
    when_begun(tmp_path, lambda: proc.send_signal(signal.SIGINT))
    out, err = proc.communicate(timeout=30)
    assert (proc.returncode, out) == (130, b"" if mode else b"main\n")
    written = f"orch: stdout (5 B) written to {tmp_path / 'out' / 'x.out'}\n" if mode else ""
    assert err.decode() == (f"post-b\norch: local/posthang was interrupted during post command "
                            f"'echo post-b; touch {began}; sleep 22' (killed by SIGINT), after "
                            f"the command ended ({ended})\n{written}")


def test_ctrl_c_during_the_post_command_after_a_timeout_says_both(tmp_path: Path) -> None:
    """chains27: a run that timed out, whose clean-up post command Ctrl-C then stopped, said
    only "timed out … and was stopped": that the clean-up was cut short was said by its
    repr, its audit record and named runs' logs, not by `orch run` or describe_failure()."""
    began = tmp_path / "began"
    cfg = tmp_path / "orch.yaml"
    cfg.write_text("environments:\n  local: {layers: []}\nservices:\n"
                   "  posttmo: {command: 'sleep 60', timeout: 1, post_commands: [{command: "
                   f"'touch {began}; sleep 22', when: always}}]}}\n")
    proc = subprocess.Popen([sys.executable, "-m", "orch_magics.cli", "-c", str(cfg), "run",
                             "local", "posttmo"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            cwd=tmp_path)
    when_begun(tmp_path, lambda: proc.send_signal(signal.SIGINT))
    _, err = proc.communicate(timeout=60)
    said = err.decode()
    assert re.fullmatch(r"orch: local/posttmo timed out after \d+\.\ds \(limit 1s\) and was "
                        r"stopped; then post command 'touch \S+; sleep 22' was interrupted "
                        r"\(killed by SIGINT\)\n", said), said


def test_one_ctrl_c_with_the_output_piped_to_a_reader_still_runs_the_clean_up(
        tmp_path: Path) -> None:
    """review41: the terminal's Ctrl-C reaches `orch run … | reader` and its reader alike;
    orch's next write then fails, and that failure stopped the run a second time, which
    skipped the `when: always` post commands as a person's second stop does."""
    cleaned = tmp_path / "cleaned"
    cfg = tmp_path / "orch.yaml"
    cfg.write_text("environments:\n  local: {layers: []}\nservices:\n  svc:\n    command: \""
                   "trap 'echo got-int; sleep 0.3; echo more; exit 130' INT; "
                   "while :; do echo tick; sleep 0.1; done\"\n"
                   f"    post_commands: [{{command: 'touch {cleaned}', when: always}}]\n")
    line = (f"{sys.executable} -m orch_magics.cli -c {cfg} run local svc | "
            f"while read l; do echo \"R $l\"; done")
    proc = subprocess.Popen(["bash", "-c", line], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, start_new_session=True, cwd=tmp_path)
    assert proc.stdout is not None
    assert proc.stdout.readline() == b"R tick\n"
    os.killpg(proc.pid, signal.SIGINT)  # as a terminal sends it: to the whole pipeline
    proc.communicate(timeout=60)
    assert cleaned.exists()
