"""What a command wrote itself is all delivered, however long after its exit status it
arrives; what it left running in a session of its own is not followed for ever."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from orch_magics import Orchestrator, load_config_text

pytestmark = pytest.mark.ssh


def test_a_commands_own_output_still_on_a_slow_link_at_its_exit_is_all_kept(
        ssh_lab, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """review40: sshd sends the exit status while the channel's 8 MiB window and its buffers
    still hold the command's output; on a 1.5 MB/s link the last 2 MB of `seq` were cut two
    seconds after the exit, exit 0, nothing said. No daemon here: every line must arrive."""
    relay = Path(__file__).with_name("slow_link.py")
    config = tmp_path / "ssh_config"
    config.write_text(ssh_lab.ssh_config.read_text().replace(
        "Host orch-loop\n", f"Host orch-loop\n  ProxyCommand {sys.executable} {relay} "
                            f"127.0.0.1 {ssh_lab.loop.port} 1500000\n"))
    layer = ssh_lab.layer("orch-loop", ssh_config=str(config), connect_timeout=20)
    count = 1_500_000  # 10.9 MB: more than a window holds
    with Orchestrator(load_config_text(f"environments:\n  slow: [{layer}]\n")) as orch:
        res = orch.run("slow", command=f"seq 1 {count}", timeout=120)
    lines = res.stdout.splitlines()
    assert (res.returncode, len(lines), lines[-1]) == (0, count, str(count)), res.stderr


def test_a_daemon_writing_in_bursts_after_the_end_does_not_keep_the_run() -> None:
    """review41: output after the end that came in 8 KiB bursts, 1.5 s apart (a block-buffered
    daemon started with setsid), was taken for the command's own still in flight: the run
    stayed open until 32 MiB had come, an hour at that pace. It ends as a trickle does."""
    import os
    import subprocess

    token = f"burst-{os.getpid()}"
    daemon = (f"setsid sh -c 'sleep 0.5; while :; do head -c 8192 /dev/zero; sleep 1.5; done; "
              f": {token}' & "
              f"sleep 0.2; echo ended")
    try:
        done = subprocess.run([sys.executable, "-m", "orch_magics.cli", "--demo", "run", "local",
                               "--", "sh", "-c", daemon], capture_output=True, timeout=30)
        assert done.returncode == 0 and b"ended\n" in done.stdout, done.stderr
    finally:
        subprocess.run(["pkill", "-f", token])


def test_a_fast_daemon_after_the_end_is_cut_at_the_runs_timeout() -> None:
    """chains28: a daemon writing 40 kB/s or more after the end looks like the command's own
    output still on its way, and kept a `--timeout 5` run open for a minute: the deadline
    now ends what is followed, as a stop does."""
    import os
    import subprocess

    token = f"fast-{os.getpid()}"
    daemon = (f"setsid sh -c 'while :; do head -c 65536 /dev/zero; sleep 0.05; done; "
              f": {token}' & sleep 0.2; echo ended")
    try:
        done = subprocess.run([sys.executable, "-m", "orch_magics.cli", "--demo", "run", "local",
                               "--timeout", "3", "--", "sh", "-c", daemon],
                              capture_output=True, timeout=15)
        assert done.returncode == 0 and b"ended\n" in done.stdout, done.stderr
    finally:
        subprocess.run(["pkill", "-f", token])
