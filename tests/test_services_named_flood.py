"""Named runs that print as fast as they can: stopping wins over output, disk use is bounded.

Through every chain a named run can take (local, two ssh hops, ssh → ssh → docker), a `yes`
started by name stops within the stop timeout, leaves no process at the far end, leaves
no hidden spill file behind, and `logs` gives its last 10,000 lines; its one on-disk copy
(the log) is rotated at `log_max_bytes`.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from orch_magics import Orchestrator, load_config_text
from processes import kill_all, left_after, processes_with


def _spills() -> set[str]:
    """This process's open spill files (unlinked when made: only their descriptors hold them)."""
    prefix = os.path.join(tempfile.gettempdir(), "orch-output-")
    held = set()
    for fd in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):
            target = os.readlink(f"/proc/self/fd/{fd}")
            if target.startswith(prefix):
                held.add(target)
    return held


def _stop_a_flood(orch: Orchestrator, env: str, token: str) -> None:
    before = _spills()
    orch.start(env, command=f"exec yes {token}", name="y")
    time.sleep(3)
    res = orch.stop("y", timeout=10)  # raises TimeoutError unless it ended by then
    assert res.interrupted and res.exit.signal is not None, res
    assert res.stdout.startswith(token) or token in res.stdout[:200]
    assert _spills() - before == set(), "a hidden spill file was left behind"
    # `logs` keeps the last 10,000 lines (the ring drops whole chunks of older ones): after a
    # line counting the earlier ones, the flood's, the last maybe cut by the signal, then the
    # note of how the run ended.
    earlier, *flood, cut, note = str(orch.logs("y")).splitlines()
    assert earlier.startswith("orch: … ") and "earlier lines not kept in memory" in earlier
    assert len(flood) + 2 == 10_000 and set(flood) == {token} and token.startswith(cut)
    assert note == "orch: y: interrupted, killed by SIGINT (stopped)"


def _chain(kind: str, request: pytest.FixtureRequest) -> tuple[str, Callable[[str], list]]:
    """The config of chain `kind` (its environment is named `kind`), and a probe for what a
    run left running at its far end."""
    if kind == "local":
        return "environments: {local: {layers: []}}", processes_with
    ssh_lab = request.getfixturevalue("ssh_lab")
    layers = [ssh_lab.layer("orch-bastion"), ssh_lab.layer("orch-inner")]
    if kind == "two":
        return (ssh_lab.config_yaml(extra_envs={"two": layers}),
                lambda token: processes_with(token, ssh_lab.inner_ns))
    dockerd = request.getfixturevalue("dockerd")
    layers.append(dockerd.layer())
    return (ssh_lab.config_yaml(extra_envs={"deep": layers}),
            lambda token: [p for p in dockerd.container_processes("orch-test") if token in p])


@pytest.mark.parametrize("chain", [
    "local",
    pytest.param("two", marks=pytest.mark.ssh),  # local → ssh → ssh
    pytest.param("deep", marks=[pytest.mark.ssh, pytest.mark.docker]),  # … → docker
])
def test_a_flooding_named_run_stops_and_leaves_nothing_at_the_far_end(
        chain: str, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    config, left_at_far_end = _chain(chain, request)
    orch = Orchestrator(load_config_text(config), log_dir=tmp_path)
    token = f"flood{os.getpid()}{chain}"
    try:
        _stop_a_flood(orch, chain, token)
        assert left_after(lambda: left_at_far_end(token)) == []
    finally:
        kill_all(processes_with(token))
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
