"""The run engine as front ends see it: one Run per begin(), options in one object."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

from orch_magics import Orchestrator, RunResult, load_config_text
from orch_magics.engine import Run, RunOptions
from orch_magics.layers.base import SeeThrough
from orch_magics.process import Command, ProcessHandle
from streams import Recorder

CONFIG = """\
environments:
  local: {layers: []}
services:
  slow:
    command: 'echo started; sleep 30'
    timeout: 0.5
  chatty:
    command: 'printf "a\\nb\\n"; printf "e\\n" >&2'
"""


def test_a_timeout_from_the_service_config_is_named_in_the_message(tmp_path: Path) -> None:
    cfg = tmp_path / "orch.yaml"
    cfg.write_text(CONFIG)
    r = subprocess.run([sys.executable, "-m", "orch_magics.cli", "-c", str(cfg), "run", "local",
                        "slow"], capture_output=True, timeout=30, check=False)
    assert r.returncode == 124
    assert r.stdout == b"started\n"
    err = r.stderr.decode()
    assert "timed out after" in err and "limit 0.5s" in err and "None" not in err, err


def test_the_result_says_which_limit_applied() -> None:
    orch = Orchestrator(load_config_text(CONFIG))
    try:
        by_config = orch.run("local", "slow")
        by_call = orch.run("local", command="sleep 30", timeout=0.3)
    finally:
        orch.close()
    assert by_config.timed_out and by_config.timeout == 0.5
    assert "limit 0.5s" in by_config.describe_failure()
    assert by_call.timed_out and "limit 0.3s" in by_call.describe_failure()
    assert by_config.exit_status == by_call.exit_status == 124


def test_without_capture_sinks_still_see_everything_and_the_result_holds_nothing() -> None:
    orch = Orchestrator(load_config_text(CONFIG))
    sink = Recorder()

    async def go() -> object:
        run = orch.begin(orch.plan("local", "chatty"), RunOptions(sinks=[sink], capture=False))
        return await run.wait()

    try:
        res = asyncio.run(go())
    finally:
        orch.close()
    assert sink.output().count(b"\n") == 3
    assert res.ok and res.stdout_bytes == b"" and res.stderr_bytes == b""  # type: ignore[attr-defined]


def test_a_time_limit_that_is_not_a_positive_number_is_refused_before_anything_runs(
        tmp_path: Path) -> None:
    from orch_magics import ConfigError

    mark = tmp_path / "ran"
    orch = Orchestrator(load_config_text(CONFIG))
    try:
        for bad in (float("nan"), float("inf"), 0, -1):
            try:
                orch.run("local", command=f"touch {mark}", timeout=bad)
            except ConfigError as exc:
                assert "timeout must be a positive number of seconds" in str(exc)
            else:
                raise AssertionError(f"timeout={bad!r} was accepted")
    finally:
        orch.close()
    assert not mark.exists()
    cfg = tmp_path / "orch.yaml"
    cfg.write_text(CONFIG)
    for bad in ("nan", "-1", "0"):
        r = subprocess.run([sys.executable, "-m", "orch_magics.cli", "-c", str(cfg), "run",
                            "local", "--timeout", bad, "--", "touch", str(mark)],
                           capture_output=True, timeout=30, check=False)
        assert r.returncode == 2 and b"timeout must be a positive" in r.stderr
        assert b"Traceback" not in r.stderr
    assert not mark.exists()


def test_a_result_says_one_line_not_one_lines() -> None:
    orch = Orchestrator(load_config_text(CONFIG))
    try:
        assert "(1 line)" in repr(orch.run("local", command="echo one"))
        assert "(2 lines)" in repr(orch.run("local", "chatty"))
    finally:
        orch.close()


class _SlowToReport(SeeThrough):
    """A hop whose launch reports its started process late: what a docker or podman exec does
    while it reads the process's pid, when a stop can come (the race is provoked: a real
    engine loses it only now and then)."""

    async def launch(self, command: Command) -> ProcessHandle:
        assert self.inner is not None
        handle = await self.inner.launch(command)
        await asyncio.sleep(0.5)
        return handle


def test_a_run_stopped_while_its_started_process_is_reported_keeps_what_it_did(
        tmp_path: Path) -> None:
    """chains tester #1: a stop landing after the command started but before its launch
    returned said "stopped before the process started" and dropped its output (the audit
    record too), though the command had run, side effects and all."""
    mark = tmp_path / "ran"

    async def main() -> RunResult:
        with Orchestrator(load_config_text("environments: {local: {layers: []}}\n")) as orch:
            plan = orch.plan("local", command=f"echo ran; touch {mark}; sleep 30")
            run = Run(plan, _SlowToReport(orch.launcher_for(plan)), RunOptions())
            await asyncio.sleep(0.25)  # started, not yet reported
            run.stop()
            return await run.wait()

    res = asyncio.run(main())
    assert mark.exists()
    assert (res.stdout, res.error, res.interrupted) == ("ran\n", None, True), res
    assert res.returncode is not None and res.returncode < 0, res


def test_a_run_cancelled_while_its_started_process_is_reported_leaves_none(
        tmp_path: Path) -> None:
    """review #13: cancelled (an Orchestrator closing, a kernel shutting down) while waiting
    for a launch a stop had given up on, the process that then arrived was left running."""
    token = f"orch-late-{tmp_path.name}"

    async def main() -> None:
        with Orchestrator(load_config_text("environments: {local: {layers: []}}\n")) as orch:
            plan = orch.plan("local", command=["bash", "-c", f"exec -a {token} sleep 30"])
            run = Run(plan, _SlowToReport(orch.launcher_for(plan)), RunOptions())
            await asyncio.sleep(0.2)
            run.stop()
            await asyncio.sleep(0.1)  # the stop is waiting for the late launch
            run.task.cancel()
            await asyncio.sleep(1.5)  # the launch arrives at 0.5 s and is stopped
            left = subprocess.run(["pgrep", "-f", token], capture_output=True, text=True)
            assert left.stdout == "", left.stdout  # before the orchestrator closes

    asyncio.run(main())



def test_a_process_that_ended_before_its_deadline_did_not_time_out() -> None:
    """100,000 JSON lines fit the pipe: `awk` has ended long before the jq filter has read
    them all. The deadline passing while the filter works stopped nothing, yet the run said
    "timed out, exit 0" and cut the filter short (held-out tester magics2)."""
    lines = r"""
  filtered:
    command: [awk, 'BEGIN { for (i = 0; i < 100000; i++) printf "{\"a\":%d}\n", i }']
    filters: [{type: jq, query: .a}]
"""
    orch = Orchestrator(load_config_text(CONFIG + lines[1:]))
    try:
        r = orch.run("local", "filtered", timeout=0.3)
    finally:
        orch.close()
    assert (r.timed_out, r.ok, r.exit.code) == (False, True, 0), r
    assert r.stdout.count("\n") == 100_000
