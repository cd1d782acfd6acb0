"""A run whose hop drops and whose host then does not answer again, through the real CLI.

The sshd's per-connection processes are killed while the command runs, its listener stopped
(SIGSTOP: the kernel still accepts connections, nobody says a word: a host gone away, a hung
sshd). What the user sees is the CLI's stderr, and how long it took.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from fixtures.sshd import SSHServer
from processes import kill_all, processes_with


def run_while_unanswered(server: SSHServer, config: Path, env: str,
                         token: str) -> tuple[int, str, float]:
    """`orch run ENV` of a sleep holding `token`, its hop dropped once it printed a line and
    `server` left unanswering: (exit status, stderr, seconds from the drop to the end)."""
    proc = subprocess.Popen([sys.executable, "-m", "orch_magics.cli", "-c", str(config), "run",
                             env, "--", "sh", "-c", f"echo up; sleep {token}"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert proc.stdout is not None and proc.stdout.readline() == b"up\n"
        os.kill(server.proc.pid, signal.SIGSTOP)
        assert server.kill_sessions()
        dropped = time.monotonic()
        _, err = proc.communicate(timeout=60)
        return proc.returncode, err.decode(), time.monotonic() - dropped
    finally:
        os.kill(server.proc.pid, signal.SIGCONT)
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        kill_all(processes_with(token))
