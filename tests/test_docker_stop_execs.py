"""A stopped container run costs no exec once its wrapper has swept its group itself.

Each stopped run was followed by one more exec (`kill -KILL -PGID`), although the wrapper,
stopped by a signal, had already killed what was left of its group and session and said so
in its status line. With a hundred runs stopped at once in one container, those execs met
the hundred exits in containerd's shim, which serialises exec starts with the exits it
reports: every exec there waited 20-30 s (chains31's test, on CI).
"""

from __future__ import annotations

import os
import time

import pytest

from orch_magics import Orchestrator, load_config_text

pytestmark = pytest.mark.docker


def _execs_since(dockerd, since: float, container: str) -> list[str]:  # type: ignore[no-untyped-def]
    """The commands of the execs the engine created in `container` since `since`."""
    events = dockerd.api.events(since=int(since), until=int(time.time()) + 1, decode=True,
                                filters={"container": container, "event": "exec_create"})
    return [e["Action"].split(": ", 1)[-1] for e in events]


@pytest.mark.parametrize("trap", ["", "trap 'exit 0' INT; "], ids=["killed", "exits 0"])
def test_a_stopped_run_gets_no_kill_exec_once_its_wrapper_swept(dockerd, trap: str) -> None:  # type: ignore[no-untyped-def]
    """Stopped by INT: the command dies of it, the wrapper kills the child that ignores TERM,
    and no exec follows the INT's. One that catches INT and exits 0 leaves that child to
    orch: its KILL exec still comes. Nothing is left either way."""
    mark = f"9{len(trap)}.{os.getpid() % 1000}"
    with dockerd.labelled({}, [f"orch-stop-execs-{len(trap)}"]) as (name,):
        config = load_config_text(
            f"environments:\n  box:\n    layers:\n      - {{type: docker, config: "
            f"{{container: {name}, docker_host: '{dockerd.host}'}}}}\n")
        with Orchestrator(config) as orch:
            assert orch.run("box", command="true").ok  # the warden and the pool are up
            since = time.time() - 1
            run = orch.spawn("box", command=f"{trap}(trap '' TERM; exec sleep {mark}) & "
                                            f"echo up; wait")
            while not run.done and run.lines != ["up"]:
                time.sleep(0.05)
            run.interrupt()
            result = run.wait(30)
            assert result.interrupted or result.ok, result.describe_failure()
        kills = [c for c in _execs_since(dockerd, since, name)
                 if c.startswith("/bin/sh -c kill -9 ")]
        assert (kills != []) == bool(trap), kills
        assert f"sleep {mark}" not in "\n".join(dockerd.container_processes(name))
