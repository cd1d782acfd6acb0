"""The remote wrapper (the shell every ssh, docker and sudo run goes through), started as a
far end starts it: once a stopped command has ended, the processes it left get their grace
before KILL whatever PATH the service set (review37: the wrapper's own `sleep` was looked for
on the run's PATH, and a service with `PATH: /opt/app/bin` had its children killed at once)."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from orch_magics.layers.remote import preamble, wrapped_argv
from orch_magics.process.command import Command


@pytest.mark.parametrize("path", ["/usr/bin:/bin", "/nonexistent/app/bin"])
def test_a_child_left_by_a_stopped_run_gets_its_grace_whatever_the_run_s_path(
        tmp_path: Path, path: str) -> None:
    done = tmp_path / "cleaned"
    started = tmp_path / "started"
    child = (f"( trap '/bin/sleep 0.4; echo yes > {done}; exit 0' TERM; : > {started}; "
             f"while :; do /bin/sleep 0.05; done ) & exec /bin/sleep 100")
    command = Command(argv=("/bin/sh", "-c", child), env={"PATH": path, "OTHER": "x"})
    text = preamble(command)
    wrapper = subprocess.Popen(wrapped_argv(command.argv, len(text)), stdin=subprocess.PIPE,
                               stderr=subprocess.DEVNULL, start_new_session=True,
                               env={"PATH": "/usr/bin:/bin"})
    assert wrapper.stdin is not None
    wrapper.stdin.write(text)
    wrapper.stdin.close()
    deadline = time.monotonic() + 20
    while not started.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    os.killpg(wrapper.pid, signal.SIGINT)  # a stop's first signal, to the run's group
    wrapper.wait(30)
    deadline = time.monotonic() + 5
    while not done.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert done.read_text() == "yes\n"  # its TERM trap ran to its end, not cut by KILL
