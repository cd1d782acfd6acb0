"""A Ctrl-C the kernel hands to a thread other than the main one (any thread that does not
block it may take a process's signal) still stops a blocking `orch.run()` or copy at once. Python runs the handler in the main thread only when that thread next runs bytecode:
a wait with no timeout ran it only once the run was over (seen once with a kernel interrupt
during a 2 GB copy). Here the main thread blocks SIGINT, so another thread must take it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from transfers import sparse

CHILD = r"""
import os, signal, sys, threading
from orch_magics import Orchestrator, load_config_text
from orch_magics.transfer import CopyInterrupted

orch = Orchestrator(load_config_text(open(sys.argv[1]).read()))
orch.loop  # its thread starts now, taking SIGINT as the main thread no longer will
signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGINT)).start()
try:
    if sys.argv[2] == "run":
        orch.run("local", command="sleep 5; echo ran")
    else:
        orch.get("local", sys.argv[3], sys.argv[4])
    print("NOT INTERRUPTED")
except KeyboardInterrupt as exc:
    print(type(exc).__name__, "ran" in str(getattr(getattr(exc, "result", None), "stdout", "")))
finally:
    orch.close()
"""

CONFIG = "environments:\n  local: {layers: []}\n"


def interrupted(tmp_path: Path, *args: str) -> str:
    cfg = tmp_path / "orch.yaml"
    cfg.write_text(CONFIG)
    child = subprocess.run([sys.executable, "-c", CHILD, str(cfg), *args], capture_output=True,
                           text=True, timeout=60)
    assert "Traceback" not in child.stderr, child.stderr
    return child.stdout


def test_a_run_stops_on_a_ctrl_c_another_thread_took(tmp_path: Path) -> None:
    assert interrupted(tmp_path, "run") == "RunInterrupted False\n"


def test_a_copy_stops_on_a_ctrl_c_another_thread_took(tmp_path: Path) -> None:
    src = sparse(tmp_path / "big", 4_000_000_000)  # seconds to copy here: stopped at 0.5 s
    dest = tmp_path / "dest"
    dest.mkdir()
    assert interrupted(tmp_path, "get", str(src), str(dest)) == "CopyInterrupted False\n"
    assert list(dest.iterdir()) == []
