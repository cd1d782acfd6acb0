"""A kernel interrupt that comes while a run is still being started stops it, as one that
comes while it runs: notebooks tester. The first ssh run of a new kernel starts slowly (the SSH
library is imported then, on the loop), and its first output could show while the cell still
waited for the start: an interrupt there left the remote command running, untracked (no `%orch
ps` row), with a 40-line traceback and the status line "running" for ever.

Real kernels ("Python 3 (orch)"), the loopback sshd; each case in a new kernel, interrupted as
soon as the command's first line shows.
"""

from __future__ import annotations

import os
import signal
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from lab_kernel import lab_kernel
from orch_magics import Orchestrator, RunInterrupted, load_config_text
from processes import left_after, processes_with

pytestmark = pytest.mark.ssh


@pytest.mark.parametrize("env", ["loop", "local"])
def test_an_interrupt_as_the_first_run_starts_leaves_nothing(
        orch_kernel: str, ssh_lab: Any, tmp_path: Path, env: str) -> None:
    config = tmp_path / "orch.yaml"
    config.write_text(ssh_lab.config_yaml(extra_envs={"local": []}))
    marker = f"{9000 + uuid.uuid4().int % 999}.{uuid.uuid4().int % 97}"
    with lab_kernel(orch_kernel) as k:
        assert k.run("load", f"%orch load {config}")["status"] == "ok", k.text("load")
        _interrupt_once_shown(k, f"%%orch {env}\necho started; sleep {marker}", "started",
                              marker)


def _interrupt_once_shown(k: Any, cell: str, shown: str, marker: str) -> None:
    """Run `cell`, interrupt the kernel once `shown` is in its output: the cell ends with
    RunInterrupted in one line (no traceback), and its `sleep MARKER` is gone."""
    msg_id = k.send("c", cell)
    k.wait_for("c", shown, timeout=60)
    k.km.interrupt_kernel()
    reply = k.reply(msg_id, 60)
    text = k.text("c")
    assert reply["status"] == "error" and reply["ename"] == "RunInterrupted", text
    assert "Traceback" not in text and "orch.py" not in text, text
    assert left_after(lambda: processes_with(f"sleep {marker}"), within=15) == [], text


@pytest.mark.parametrize("named", [False, True])
def test_a_ctrl_c_while_the_loop_is_still_starting_the_run_stops_it(tmp_path: Path,
                                                                   named: bool) -> None:
    """The same through the API, the window made wide: the loop is kept busy (as by the SSH
    library's import) while the caller waits for the run to begin, and Ctrl-C comes then. A
    named run stays listed, stopped."""
    marker = f"{7000 + uuid.uuid4().int % 999}.{uuid.uuid4().int % 97}"
    with Orchestrator(load_config_text("environments:\n  local: {layers: []}\n"),
                      log_dir=tmp_path) as orch:
        orch.loop.call(time.sleep, 1.5)  # the loop is busy: the run begins only after it
        threading.Timer(0.4, os.kill, (os.getpid(), signal.SIGINT)).start()
        with pytest.raises(RunInterrupted) as info:
            if named:
                orch.start("local", command=f"sleep {marker}", name="early")
            else:
                orch.spawn("local", command=f"sleep {marker}")
        assert info.value.result.interrupted
        assert left_after(lambda: processes_with(f"sleep {marker}")) == []
        assert [(row.name, row.state) for row in orch.ps()] == ([("early", "stopped")] if named
                                                                 else [])


def test_an_interrupt_before_a_bg_cell_returns_stops_its_run(orch_kernel: str,
                                                             tmp_path: Path) -> None:
    """The run had started in the background and the cell was still showing it (its status
    line, the names): an interrupt then was a raw traceback, and the run went on. The window
    is a few milliseconds; a cell of the test widens it (a sleep after the display is set up)."""
    config = tmp_path / "orch.yaml"
    config.write_text("environments:\n  local: {layers: []}\n")
    marker = f"{6000 + uuid.uuid4().int % 999}.{uuid.uuid4().int % 97}"
    with lab_kernel(orch_kernel) as k:
        assert k.run("load", f"%orch load {config}")["status"] == "ok", k.text("load")
        widen = ("import time, orch_magics.magics.runs as runs\n"
                 "shown = runs._background\n"
                 "runs._background = lambda *a: (shown(*a), print('shown'), time.sleep(30))\n")
        assert k.run("widen", widen)["status"] == "ok", k.text("widen")
        _interrupt_once_shown(k, f"%%orch local --bg --out r\necho started; sleep {marker}",
                              "shown", marker)
        assert k.run("after", "print(r.interrupted, repr(r.stdout))")["status"] == "ok"
        assert k.text("after").strip() == "True 'started\\n'", k.text("after")


def test_a_ctrl_c_inside_the_waits_lock_handling_is_still_a_ctrl_c(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Seen once in CI: the kernel's interrupt landed inside `threading.Event.wait` between
    its lock's release and re-acquire; the `with` around it then raised `RuntimeError:
    release unlocked lock` (the KeyboardInterrupt only its context), which nothing caught:
    a 60-line traceback, the run left running. No real signal hits that byte-code on
    demand, so the wait is made to fail as it did."""
    import concurrent.futures

    from orch_magics import _loop

    def wait(*_args: object, **_kw: object) -> None:
        try:
            raise KeyboardInterrupt
        except KeyboardInterrupt:
            raise RuntimeError("release unlocked lock")  # noqa: B904 - as threading does

    monkeypatch.setattr(_loop.concurrent.futures, "wait", wait)
    with pytest.raises(KeyboardInterrupt):
        _loop.result_of(concurrent.futures.Future())
