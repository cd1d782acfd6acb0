"""A fleet past this process's open-file limit: the targets past it fail, the others run."""

from __future__ import annotations

import os
import re
import resource
import subprocess
import sys
from pathlib import Path

from fixtures.fleet import SSHFleet


def test_a_fleet_past_the_open_file_limit_fails_only_the_targets_past_it(
        ssh_fleet: SSHFleet, tmp_path: Path) -> None:
    """fleets19: two targets past `ulimit -n` failed all 29, those that connected too: the
    first host-key lookup imported `encodings.idna`, which found no descriptor left, and
    each connection said "cannot reach HOST: Too many open files"."""
    cfg = tmp_path / "orch.yaml"
    cfg.write_text(ssh_fleet.config_yaml("services:\n  who: {command: echo hi}\n"))
    done = subprocess.run(
        [sys.executable, "-m", "orch_magics.cli", "-c", str(cfg), "run", "web", "who",
         "--limit", f"127.0.1.[1:{ssh_fleet.count - 1}]"],  # the last has a changed key
        capture_output=True, text=True, timeout=120,
        preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (28, 28)))
    rows = re.findall(r"^127\.0\.1\.\d+ +(ok|failed) .*$", done.stdout, re.M)
    assert len(rows) == ssh_fleet.count - 1, done.stdout + done.stderr
    failed = [line for line in done.stdout.splitlines()
              if re.match(r"127\.0\.1\.\d+ +failed", line)]
    assert rows.count("ok") >= 10, done.stdout
    assert failed and all("Too many open files" in line for line in failed), done.stdout
    assert "Traceback" not in done.stderr and done.returncode == 1


_NO_DESCRIPTOR_LEFT = """
import os, resource
from orch_magics.layers.ssh_connect import KeyRecorder, map_connect_errors
asyncssh_said = ValueError("Unknown local username: set one of LOGNAME, USER, LNAME, or "
                           "USERNAME in the environment")
resource.setrlimit(resource.RLIMIT_NOFILE, (64, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))
held = []
for full in (True, False):
    try:
        while full:
            held.append(os.open(os.devnull, os.O_RDONLY))
    except OSError:
        pass
    try:
        with map_connect_errors(type("Cfg", (), {"host": "web-1", "port": 22})(),
                                lambda cls, msg: cls(msg), KeyRecorder(), depth=1, via="local",
                                host=None):
            raise asyncssh_said
    except Exception as exc:
        print(exc)
    for fd in held:
        os.close(fd)
    held.clear()
"""


def test_no_descriptor_left_is_said_so_without_a_user_variable() -> None:
    """CI (no USER, no LOGNAME): targets past the limit said "Unknown local username: set one
    of LOGNAME, USER …": asyncssh reads the user name from the password database at each
    connection, and that takes a descriptor too. With descriptors free, its words stay."""
    env = {k: v for k, v in os.environ.items() if k not in ("USER", "LOGNAME", "LNAME", "USERNAME")}
    done = subprocess.run([sys.executable, "-c", _NO_DESCRIPTOR_LEFT], env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "cannot reach web-1:22: Too many open files",
        "cannot reach web-1:22: Unknown local username: set one of LOGNAME, USER, LNAME, or "
        "USERNAME in the environment"], done.stdout
