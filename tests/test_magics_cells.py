"""Live runs and the cells that show them, in a real kernel driven as JupyterLab drives it:
running a cell again, and the kernel shutting down under live runs."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

from lab_kernel import lab_kernel

CONFIG = textwrap.dedent("""
    environments:
      local: {layers: []}
    services:
      cat: {command: cat, stdin_mode: streaming}
      sleepy: {command: 'echo up; sleep 60'}
""")


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def load(kernel, tmp_path: Path) -> None:
    (tmp_path / "orch.yaml").write_text(CONFIG)
    assert kernel.run("load", f"%orch load {tmp_path / 'orch.yaml'}")["status"] == "ok"


def test_running_a_cell_again_stops_its_own_stdin_run(orch_kernel: str, tmp_path: Path) -> None:
    with lab_kernel(orch_kernel) as kernel:
        load(kernel, tmp_path)
        assert kernel.run("c1", "%orch local cat --out c")["status"] == "ok"
        kernel.run("keep", "first = c\nc.send_line('hello')")
        kernel.wait_for("c1", "hello")
        kernel.run("pid", "print('PID', first.pid)")
        pid = int(kernel.text("pid").split()[1])
        assert alive(pid)
        assert kernel.run("c1", "%orch local cat --out c")["status"] == "ok"  # Shift+Enter again
        assert kernel.text("c1").startswith("stopped cat, the run this cell started when it "
                                            "last ran\n")
        assert not alive(pid)  # stopped before the new run started, not orphaned
        kernel.run("check", "print(first.state, first.result().interrupted, c is first, "
                            "c.state)\n%orch ps")
        said = kernel.text("check")
        assert said.startswith("stopped True False running\n"), said
        rows = [line for line in said.splitlines()[2:] if line.strip()]
        assert len(rows) == 1 and rows[0].split()[:4] == ["cat", "local", "cat", "running"]
        # two magics in one execution of a cell: the second does not stop the first
        kernel.run("c2", "a = %orch local cat\nb = %orch local cat")
        kernel.run("check2", "print(a.state, b.state)")
        assert kernel.text("check2") == "running running\n"


def test_running_a_cell_again_leaves_its_bg_run_going_and_says_so(
        orch_kernel: str, tmp_path: Path) -> None:
    with lab_kernel(orch_kernel) as kernel:
        load(kernel, tmp_path)
        kernel.run("bg", "%orch local sleepy --bg --out s")
        kernel.run("keep", "first = s")
        kernel.run("bg", "%orch local sleepy --bg --out s")
        assert kernel.text("bg").startswith(
            "sleepy, started when this cell last ran, is still running (--bg and --name runs "
            "outlive their cell): %orch stop sleepy stops it\n")
        kernel.run("check", "print(first.state, s.name, s.state)")
        assert kernel.text("check") == "running sleepy-1 running\n"
