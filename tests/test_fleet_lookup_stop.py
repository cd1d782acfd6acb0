"""A label fleet finds its containers by logging in to each host first; a host that hangs
there (accepts TCP, never sends its SSH banner) must not hold the fleet: `--timeout` bounds it,
and Ctrl-C, `stop()` or a kernel interrupt stop it at once, with no target started afterwards.

The lab: bastion → two inner hosts (one live, one silent) → containers labelled on the test
engine. Held-out tester fleets3 #1 and #2: the run waited out the hop's 15 s connect_timeout
whatever `timeout=` said, and an interrupt during the lookup escaped `Fleets.start` as a raw
KeyboardInterrupt while the fleet went on to start every target in the background.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from fixtures.dockerd import Engine
from fixtures.sshd import SSHLab
from orch_magics import Orchestrator, load_config_text
from orch_magics.audit.log import default_audit_path
from orch_magics.errors import OrchError
from orch_magics.fleet import FleetInterrupted, FleetOptions
from test_fleet_lab import Inner, inner_hosts  # noqa: F401  (module fixture)

pytestmark = pytest.mark.ssh
REPO = Path(__file__).resolve().parent.parent
NAP = "sleep 3627"


@pytest.fixture(scope="module")
def silent(ssh_lab: SSHLab, inner_hosts: Inner) -> Iterator[str]:  # noqa: F811
    """The dead inner address, now a listener that accepts and never says a word."""
    code = ("import socket\ns=socket.socket();s.setsockopt(socket.SOL_SOCKET,"
            f"socket.SO_REUSEADDR,1);s.bind(('{inner_hosts.dead}',22));s.listen(50)\nheld=[]\n"
            "while True:\n  held.append(s.accept())\n")
    proc = subprocess.Popen(["ip", "netns", "exec", ssh_lab.inner_ns, sys.executable, "-c", code])
    time.sleep(1)
    yield inner_hosts.dead
    proc.kill()
    proc.wait()


@pytest.fixture
def config(ssh_lab: SSHLab, inner_hosts: Inner, dockerd: Engine, silent: str,  # noqa: F811
           tmp_path: Path) -> Iterator[Path]:
    hosts = f"[{inner_hosts.live[0]}, {silent}]"  # the default connect_timeout: 15 s
    inner = (f"{{type: ssh, config: {{host: {hosts}, user: root, identity_file: "
             f"{ssh_lab.key}, known_hosts: {inner_hosts.known_hosts}}}}}")
    docker = f"{{type: docker, config: {{label: orch.fleet=lookup, docker_host: {dockerd.host}}}}}"
    text = ssh_lab.config_yaml(extra_envs={"apps": [ssh_lab.layer("orch-bastion"), inner, docker]},
                               services=f"  name: {{command: 'cat /etc/hostname'}}\n"
                                        f"  nap: {{command: '{NAP}'}}\n")
    cfg = tmp_path / "orch.yaml"
    cfg.write_text(text)
    with dockerd.labelled({"orch.fleet": "lookup"}, ["lookup-a", "lookup-b"]):
        yield cfg


def naps() -> list[str]:
    return subprocess.run(["pgrep", "-f", f"^{NAP}"], capture_output=True,
                          text=True).stdout.split()


def test_the_timeout_bounds_a_host_that_hangs_while_its_containers_are_found(
        config: Path, silent: str) -> None:
    with Orchestrator(load_config_text(config.read_text())) as orch:
        t0 = time.monotonic()
        res = orch.run("apps", "name", timeout=2)
        took = time.monotonic() - t0
    assert took < 8, f"the fleet took {took:.1f}s with timeout=2"
    assert res.states[silent] == "failed" and res[silent].timed_out
    assert 1.5 < res[silent].duration < 8  # its row says how long it was waited for
    assert "timed out after 2." in res.table() and "(limit 2s)" in res.table()
    assert len(res.succeeded) == 2 and all(r.stdout for r in res.succeeded.values())  # the rest ran
    # fleets26: its audit record said 0 s, where the row says how long it was waited for
    records = [json.loads(line) for line in Path(default_audit_path()).read_text().splitlines()]
    end = next(r for r in records if r["event"] == "end" and r["id"] == res[silent].audit_id)
    assert 1.5 < end["duration"] < 8 and "timed out" in end["error"], end


def test_ctrl_c_during_the_lookup_ends_the_cli_at_once(config: Path) -> None:
    proc = subprocess.Popen([sys.executable, "-c", "import signal,os,sys; signal.signal("
                             "signal.SIGINT, signal.SIG_DFL); os.execv(sys.argv[1], sys.argv[1:])",
                             sys.executable, "-m", "orch_magics.cli", "-c", str(config), "run",
                             "apps", "nap"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env={**os.environ, "PYTHONPATH": str(REPO)})
    time.sleep(4)
    proc.send_signal(signal.SIGINT)
    t0 = time.monotonic()
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130 and time.monotonic() - t0 < 5, (out, err)
    assert "stopped" in out + err and "Traceback" not in err
    time.sleep(1)
    assert naps() == []


def test_start_returns_at_once_and_says_it_is_finding_containers(config: Path,
                                                                 silent: str) -> None:
    """fleets10 F2: `start` waited out the silent host's connect timeout (15 s) in silence,
    and the healthy host's containers with it."""
    with Orchestrator(load_config_text(config.read_text())) as orch:
        t0 = time.monotonic()
        live = orch.start("apps", "nap", name="n")
        assert time.monotonic() - t0 < 3
        assert re.fullmatch(r"finding containers on [12] of 2 hosts", live.state), live.state
        assert orch.ps()[0].state == live.state.join(["fleet: ", ""]) or \
            orch.ps()[0].state.startswith("fleet: finding containers on")
        time.sleep(1)
        res = orch.stop("n")
        assert set(res.states.values()) == {"stopped"}, res.states
        assert res.states[silent] == "stopped"
        time.sleep(3)  # nothing starts later in the background
        assert naps() == []


def test_ctrl_c_in_a_run_during_the_lookup_stops_the_fleet(config: Path, silent: str) -> None:
    with Orchestrator(load_config_text(config.read_text())) as orch:
        timer = threading.Timer(1.5, lambda: os.kill(os.getpid(), signal.SIGINT))
        timer.start()
        t0 = time.monotonic()
        with pytest.raises(FleetInterrupted) as info:
            orch.run("apps", "nap")
        assert time.monotonic() - t0 < 6
        assert info.value.result.states[silent] == "stopped"
        assert set(info.value.result.states.values()) == {"stopped"}
        time.sleep(3)  # nothing starts later in the background
        assert naps() == []


def test_a_started_label_fleet_that_finds_no_container_says_so(dockerd: Engine) -> None:
    """Started at once, it fails as a whole later: `wait()` raises why, `ps` and `logs` say it."""
    text = (f"environments:\n  apps:\n    layers:\n      - {{type: docker, config: {{label: "
            f"orch.none=here, docker_host: '{dockerd.host}'}}}}\n"
            f"services:\n  name: {{command: 'true'}}\n")
    with Orchestrator(load_config_text(text)) as orch:
        live = orch.start("apps", "name", name="empty")
        with pytest.raises(OrchError, match="no running container has the label orch.none=here"):
            live.wait(30)
        assert live.state.startswith("failed: environment 'apps' has no target")
        info = orch.ps()[0]
        assert info.name == "empty" and info.exit == "failed", info
        time.sleep(0.3)  # review21: its clock stopped where it ended, with no row to say when
        assert orch.ps()[0].elapsed == info.elapsed
        assert "no running container has the label orch.none=here" in orch.logs("empty")


def test_a_kernel_interrupt_during_the_lookup_stops_the_fleet_and_keeps_its_result(
        orch_kernel: str, config: Path) -> None:
    from lab_kernel import lab_kernel

    with lab_kernel(orch_kernel) as kernel:
        assert kernel.run("load", f"%orch load {config}")["status"] == "ok"
        reply: dict[str, object] = {}
        cell = threading.Thread(target=lambda: reply.update(
            kernel.run("cell", "%%orch apps nap --out kept\nhello\n", timeout=120)))
        cell.start()
        time.sleep(2)
        t0 = time.monotonic()
        kernel.km.interrupt_kernel()
        cell.join(120)
        assert time.monotonic() - t0 < 6
        shown = re.sub(r"\x1b\[[0-9;]*m", "", kernel.text("cell"))
        assert reply["status"] == "error" and "threading.py" not in shown, shown
        assert kernel.run("out", "print(sorted(set(kept.states.values())))")["status"] == "ok"
        assert kernel.text("out").strip() == "['stopped']"
        time.sleep(3)
        assert naps() == []


def test_a_magic_start_returns_at_once_while_containers_are_found(orch_kernel: str,
                                                                   config: Path) -> None:
    from lab_kernel import lab_kernel

    with lab_kernel(orch_kernel) as kernel:
        assert kernel.run("load", f"%orch load {config}")["status"] == "ok"
        t0 = time.monotonic()
        assert kernel.run("start", "%orch start apps nap --name h")["status"] == "ok"
        assert time.monotonic() - t0 < 5, "the cell waited for the silent host"
        assert kernel.run("ps", "%orch ps")["status"] == "ok"
        assert re.search(r"fleet: finding containers on [12] of 2 hosts", kernel.text("ps")), \
            kernel.text("ps")
        assert kernel.run("stop", "%orch stop h")["status"] == "ok"
        assert "stopped" in kernel.text("stop")
        time.sleep(3)
        assert naps() == []


@pytest.fixture
def mute_engine() -> Iterator[str]:
    """A docker_host that accepts connections and never answers them."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    yield f"tcp://127.0.0.1:{listener.getsockname()[1]}"
    listener.close()


def test_a_stop_before_the_lookups_began_stops_them(mute_engine: str) -> None:
    """A stop that came before the lookups had started was not seen by them: each waited out
    its engine's timeout and ended `failed` (review)."""
    text = (f"environments:\n  apps:\n    layers:\n      - {{type: docker, config: {{label: "
            f"orch.x=y, docker_host: '{mute_engine}'}}}}\nservices:\n  name: {{command: 'true'}}\n")
    with Orchestrator(load_config_text(text)) as orch:
        plan = orch.plan("apps", "name")
        ticket = orch.fleets.admit(plan, FleetOptions(), (), "api")

        async def stopped_at_once() -> tuple[dict[str, str], float]:
            fleet = orch.fleets.begin(plan, FleetOptions(), ticket)
            fleet.stop()
            t0 = time.monotonic()
            return (await fleet.wait()).states, time.monotonic() - t0

        states, took = orch.loop.submit(stopped_at_once()).result(30)
        assert states == {"label orch.x=y": "stopped"} and took < 2
        res = orch.run("apps", "name", timeout=1)  # and the timeout bounds the engine's lookup
        assert res.states == {"label orch.x=y": "failed"} and res["label orch.x=y"].timed_out
