"""Ctrl-C in the first moments of an ssh run stops it at once, whenever it lands.

The session is open before the remote login shell has started the wrapper, which says its
pid (the process group the fallback `kill -INT -PGID` signals) only then. A stop in between
had nowhere to send INT: the command started anyway and ran until the ladder's TERM, 2 s later
(exit 143). The stop now waits for the pid.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.ssh


def _wait_until_python_handles_sigint(pid: int) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with open(f"/proc/{pid}/status") as status:
            caught = next(line for line in status if line.startswith("SigCgt:"))
        if int(caught.split()[1], 16) & (1 << (signal.SIGINT - 1)):
            return
        time.sleep(0.005)


@pytest.mark.parametrize("env", ["loop", "two"])
def test_ctrl_c_at_any_moment_of_the_start_stops_the_command(ssh_lab, tmp_path: Path,  # type: ignore[no-untyped-def]
                                                             env: str) -> None:
    cfg = tmp_path / "orch.yaml"
    cfg.write_text(ssh_lab.config_yaml())
    mark = f"1358.{os.getpid() % 1000}"
    argv = [sys.executable, "-m", "orch_magics.cli", "-c", str(cfg), "run", env, "--",
            "sleep", mark]
    seen = []
    try:
        # from when Python can take a Ctrl-C (at its own start, before site and our imports:
        # a Ctrl-C then is Python's traceback, not ours) through connecting and starting
        for delay in (0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.6, 0.8):
            proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            _wait_until_python_handles_sigint(proc.pid)  # before, any program just dies of it
            time.sleep(delay)
            proc.send_signal(signal.SIGINT)
            t0 = time.monotonic()
            proc.communicate(timeout=30)
            seen.append((delay, proc.returncode, round(time.monotonic() - t0, 1)))
    finally:
        subprocess.run(["pkill", "-f", f"sleep {mark}"], capture_output=True)
    # 130, or death by SIGINT after "orch: interrupted": a shell reports both as 130
    assert all(rc in (130, -signal.SIGINT) and took < 1.5 for _, rc, took in seen), seen
