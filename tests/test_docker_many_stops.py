"""Many container runs stopped at once (an Orchestrator closed, a fleet stopped): each signal
was an exec of its own, and the engine's queue of them outlasted the stop's ladder."""

from __future__ import annotations

import collections
import os
import time

import pytest

from orch_magics import Orchestrator, load_config_text
from processes import left_after, processes_with

pytestmark = pytest.mark.docker


def test_a_hundred_and_twenty_runs_closed_at_once_all_say_they_were_stopped(  # type: ignore[no-untyped-def]
        ssh_lab, dockerd) -> None:
    """chains31: of 180 runs on three ssh → docker chains, 120 said "it did not end within
    10 s of SIGKILL (a paused container …): it may still be there" with nothing left; 540
    signal execs were queued. Groups waiting for a container now share one exec."""
    mark = f"3178.{os.getpid() % 1000}"
    text = ssh_lab.config_yaml(extra_envs={
        "boxed": [ssh_lab.layer("orch-loop"), dockerd.layer()],
        "deep": [ssh_lab.layer("orch-bastion"), ssh_lab.layer("orch-inner"), dockerd.layer()]})
    orch = Orchestrator(load_config_text(text))
    try:
        lives = [orch.spawn(env, command=f"echo up; sleep {mark}")
                 for env in ("boxed", "deep") for _ in range(60)]
        deadline = time.monotonic() + 120
        while any(live.state != "running" for live in lives):
            assert time.monotonic() < deadline, collections.Counter(run.state for run in lives)
            time.sleep(0.2)
    finally:
        orch.close()
    said = collections.Counter(live.result().outcome() for live in lives)
    assert all(outcome.startswith("interrupted, killed by SIG") for outcome in said), said
    # seen from this machine: an exec in the container may wait out the shim's stall
    assert left_after(lambda: processes_with(f"sleep {mark}", zombies=False)) == []
