"""A kernel interrupt that comes while a run is still being started stops it, as one that
comes while it runs: notebooks tester. The first ssh run of a new kernel starts slowly (the SSH
library is imported then, on the loop), and its first output could show while the cell still
waited for the start: an interrupt there left the remote command running, untracked (no `%orch
ps` row), with a 40-line traceback and the status line "running" for ever.

Real kernels ("Python 3 (orch)"), the loopback sshd; each case in a new kernel, interrupted as
soon as the command's first line shows.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest

from lab_kernel import lab_kernel
from processes import left_after, processes_with

pytestmark = pytest.mark.ssh


@pytest.mark.parametrize(("env", "line"), [("loop", ""), ("loop", "--bg --name early"),
                                           ("local", "")])
def test_an_interrupt_as_the_first_run_starts_leaves_nothing(
        orch_kernel: str, ssh_lab: Any, tmp_path: Path, env: str, line: str) -> None:
    config = tmp_path / "orch.yaml"
    config.write_text(ssh_lab.config_yaml(extra_envs={"local": []}))
    marker = f"{9000 + uuid.uuid4().int % 999}.{uuid.uuid4().int % 97}"
    with lab_kernel(orch_kernel) as k:
        assert k.run("load", f"%orch load {config}")["status"] == "ok", k.text("load")
        msg_id = k.send("c", f"%%orch {env} {line}\necho started; sleep {marker}")
        k.wait_for("c", "started", timeout=60)
        k.km.interrupt_kernel()
        reply = k.reply(msg_id, 60)
        text = k.text("c")
        if not line:  # a blocking run: it raised RunInterrupted, said in one line
            assert reply["status"] == "error" and reply["ename"] == "RunInterrupted", text
            assert "Traceback" not in text and "orch.py" not in text, text
        assert left_after(lambda: processes_with(f"sleep {marker}"), within=15) == [], text
        if line:  # a named run stopped as it started is listed, stopped, not running unseen
            k.run("ps", "%orch ps")
            assert "early" in k.text("ps") and "running" not in k.text("ps"), k.text("ps")
