"""Named runs that print as fast as they can: stopping wins over output, disk use is bounded.

Through every chain a named run can take (local, two ssh hops, ssh → ssh → docker), a `yes`
started by name stops within the stop timeout, leaves no process at the far end, and leaves
no hidden spill file behind; its one on-disk copy (the log) is rotated at `log_max_bytes`.
"""

from __future__ import annotations

import glob
import json
import os
import tempfile
import time
from pathlib import Path

import pytest

from orch_magics import Orchestrator, load_config_text
from processes import kill_all, processes_with


def _spills() -> set[str]:
    return set(glob.glob(os.path.join(tempfile.gettempdir(), "orch-output-*")))


def _stop_a_flood(orch: Orchestrator, env: str, token: str) -> None:
    before = _spills()
    orch.start(env, command=f"exec yes {token}", name="y")
    time.sleep(3)
    t0 = time.monotonic()
    res = orch.stop("y", timeout=10)
    assert time.monotonic() - t0 < 10
    assert res.interrupted and res.exit.signal is not None, res
    assert res.stdout.startswith(token) or token in res.stdout[:200]
    assert _spills() - before == set(), "a hidden spill file was left behind"


def test_a_flooding_named_run_stops_locally(tmp_path: Path) -> None:
    orch = Orchestrator(load_config_text("environments: {local: {layers: []}}"),
                        log_dir=tmp_path)
    token = f"flood{os.getpid()}"
    try:
        _stop_a_flood(orch, "local", token)
        assert processes_with(token) == []
    finally:
        orch.close()


@pytest.mark.ssh
def test_a_flooding_named_run_stops_two_ssh_hops_away(ssh_lab, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    layers = [ssh_lab.layer("orch-bastion"), ssh_lab.layer("orch-inner")]
    orch = Orchestrator(load_config_text(ssh_lab.config_yaml(extra_envs={"two": layers})),
                        log_dir=tmp_path)
    token = f"flood{os.getpid()}s"
    try:
        _stop_a_flood(orch, "two", token)
        time.sleep(0.3)
        assert processes_with(token, ssh_lab.inner_ns) == []
    finally:
        kill_all(processes_with(token))
        orch.close()


@pytest.mark.ssh
@pytest.mark.docker
def test_a_flooding_named_run_stops_in_a_container_behind_two_hops(ssh_lab, dockerd, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    docker = "{type: docker, config: " + json.dumps(
        {"container": "orch-test", "docker_host": dockerd.host}) + "}"
    layers = [ssh_lab.layer("orch-bastion"), ssh_lab.layer("orch-inner"), docker]
    orch = Orchestrator(load_config_text(ssh_lab.config_yaml(extra_envs={"deep": layers})),
                        log_dir=tmp_path)
    token = f"flood{os.getpid()}d"
    try:
        _stop_a_flood(orch, "deep", token)
        time.sleep(0.3)
        assert not [p for p in dockerd.container_processes("orch-test") if token in p]
    finally:
        orch.close()


def test_the_log_of_a_flooding_named_run_is_rotated_and_bounded(tmp_path: Path) -> None:
    cap = 1 << 20
    orch = Orchestrator(load_config_text("environments: {local: {layers: []}}"),
                        log_dir=tmp_path, log_max_bytes=cap, capture_limit=64 << 10)
    try:
        run = orch.start("local", command="exec yes rotated", name="rot")
        deadline = time.monotonic() + 20
        while not (tmp_path / "rot.log.1").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.5)  # several more rotations' worth
        res = orch.stop("rot", timeout=10)
    finally:
        orch.close()
    assert run.log_file == str(tmp_path / "rot.log")
    sizes = [(tmp_path / name).stat().st_size for name in ("rot.log", "rot.log.1")]
    assert all(0 < size <= cap for size in sizes), sizes
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rot.log", "rot.log.1"]
    assert (tmp_path / "rot.log.1").read_bytes().count(b"rotated\n") > 1000
    # The result keeps the last capture_limit bytes (the log has the rest).
    assert 0 < len(res.stdout_bytes) <= 64 << 10
    assert set(res.stdout.splitlines()[1:-1]) == {"rotated"}
