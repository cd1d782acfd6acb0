"""A stop while the container is paused (held-out tester, 2026-11-30: layers finding 10).

The engine refuses any exec into a paused container (409 "is paused, unpause the container
before exec"), both creating and starting one; its container kill targets the container's main
process, and unpauses it. So the docker layer cannot signal a command in a paused container,
and unpausing someone's paused container is not its call. It used to take the 409 for "the
container is gone", drop every signal and the final KILL without a word, wait 16 s and say
"interrupted", leaving the command to run on after `docker unpause`. Now the stop ends once
the KILL is refused, and the run's error says what is left and where (container, process
group) and how to stop it; once unpaused the command is still there, as the error says.

Real dockerd (the fixture); each test pauses a container of its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from orch_magics import (
    Command,
    LayeredExecutor,
    LocalLauncher,
    Orchestrator,
    Stdout,
    load_config_text,
)
from orch_magics.config.loader import layer_spec
from orch_magics.layers.docker import DockerConfig
from processes import left_after

pytestmark = pytest.mark.docker

LOOP = "echo ready; while :; do sleep 1; done"


@contextlib.contextmanager
def paused_later(dockerd, name: str) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """A container of this test (removed at the end; unpaused first if a test paused it)."""
    with dockerd.labelled({}, [name]):
        try:
            yield name
        finally:
            with contextlib.suppress(Exception):
                dockerd.api.unpause(name)


def loops_in(dockerd, name: str) -> list[str]:  # type: ignore[no-untyped-def]
    return [p for p in dockerd.container_processes(name) if "do sleep 1; done" in p]


def said_what_is_left(message: str, container: str, dockerd,  # type: ignore[no-untyped-def]
                      closed: bool = False) -> int:
    """The message names the paused container and a process group that is really there (read
    once unpaused), says it may still run and how to stop it; returns that group. Once orch
    has let go of the container (`closed`), the unpause lets its warden end the group."""
    assert "paused" in message and repr(container) in message, message
    found = re.search(r"process group (\d+)", message)
    assert found and "may still run" in message and "its warden there ends it" in message
    pgid = int(found.group(1))
    assert f"kill -KILL -{pgid}" in message, message
    dockerd.api.unpause(container)
    if closed:
        assert left_after(lambda: loops_in(dockerd, container)) == []
        return pgid
    assert pgid in {int(p.split()[0]) for p in dockerd.container_processes(container)}
    assert loops_in(dockerd, container)  # as said: the engine could not stop it, nor did we
    advice = message.rsplit("(sooner: docker exec ", 1)[1].split(")")[0].split()
    assert advice == [container, "kill", "-KILL", f"-{pgid}"]
    dockerd.api.exec_start(dockerd.api.exec_create(container, advice[1:])["Id"])
    assert left_after(lambda: loops_in(dockerd, container)) == []  # the advice ends it all
    return pgid


async def test_a_stop_in_a_paused_container_ends_and_names_what_is_left(
        base: LocalLauncher, dockerd) -> None:  # type: ignore[no-untyped-def]
    with paused_later(dockerd, "orch-paused-1") as name:
        ex = LayeredExecutor(base, [layer_spec("docker", DockerConfig(
            container=name, docker_host=dockerd.host))])
        handle = await ex.launch(Command.of(LOOP))
        assert await asyncio.wait_for(handle.events().__anext__(), 30) == Stdout(b"ready\n")
        dockerd.api.pause(name)
        end = await asyncio.wait_for(handle.stop((0.2, 0.2)), 60)
        assert end.error is not None and end.code is None and end.signal is None
        assert said_what_is_left(str(end.error), name, dockerd) == handle.pid


@pytest.mark.ssh
async def test_behind_ssh_too(base: LocalLauncher, ssh_lab, dockerd) -> None:  # type: ignore[no-untyped-def]
    """Through `ssh orch-loop`, the engine's socket forwarded: the same refusal and message."""
    with paused_later(dockerd, "orch-paused-5") as name:
        layers = [ssh_lab.layer("orch-loop"), dockerd.layer(container=name)]
        cfg = load_config_text(ssh_lab.config_yaml(extra_envs={"boxed": layers}))
        handle = await LayeredExecutor(base, cfg.environments["boxed"].layers).launch(
            Command.of(LOOP))
        assert await asyncio.wait_for(handle.events().__anext__(), 30) == Stdout(b"ready\n")
        dockerd.api.pause(name)
        end = await asyncio.wait_for(handle.stop((0.2, 0.2)), 60)
        assert end.error is not None and "hop 2 (docker " in str(end.error)
        assert said_what_is_left(str(end.error), name, dockerd) == handle.pid


async def test_signals_to_a_paused_container_are_refused_not_dropped(
        base: LocalLauncher, dockerd) -> None:  # type: ignore[no-untyped-def]
    """An INT while paused is an error naming the container; after unpause the next one
    is delivered (nothing was taken for 'gone')."""
    with paused_later(dockerd, "orch-paused-2") as name:
        ex = LayeredExecutor(base, [layer_spec("docker", DockerConfig(
            container=name, docker_host=dockerd.host))])
        handle = await ex.launch(Command.of(["sleep", "300"]))
        events = handle.events()
        dockerd.api.pause(name)
        with pytest.raises(Exception, match=f"{name!r} is paused"):
            await handle.interrupt()
        dockerd.api.unpause(name)
        await handle.interrupt()
        end = await asyncio.wait_for(_last(events), 30)
        assert end.signal == signal.SIGINT


async def _last(events):  # type: ignore[no-untyped-def]
    async for event in events:
        last = event
    return last


def test_the_api_result_says_what_is_left(dockerd) -> None:  # type: ignore[no-untyped-def]
    """A run stopped by its timeout while paused: its error and describe_failure name it."""
    with paused_later(dockerd, "orch-paused-3") as name:
        config = load_config_text(
            f"environments:\n  box:\n    layers:\n      - {{type: docker, config: "
            f"{{container: {name}, docker_host: '{dockerd.host}'}}}}\n")
        with Orchestrator(config) as orch:
            # connected first: the timeout counts the start too, slow on a busy engine (CI)
            assert orch.run("box", command="true").ok
            run = orch.spawn("box", command=LOOP, timeout=10)
            while not run.done and run.lines != ["ready"]:
                time.sleep(0.05)
            assert run.lines == ["ready"], run.result().describe_failure()
            dockerd.api.pause(name)
            result = run.wait(90)
            assert result.timed_out and not result.ok and result.error is not None
            assert "was stopped" not in result.describe_failure()
            # read while the orchestrator is open: its close ends what is left once thawed
            pgid = said_what_is_left(result.describe_failure(), name, dockerd)
            assert str(pgid) in str(result.error)


@pytest.mark.parametrize("presses", [1, 2], ids=["ctrl-c", "ctrl-c twice"])
def test_ctrl_c_in_the_cli_says_what_is_left(tmp_path: Path, dockerd, presses: int) -> None:  # type: ignore[no-untyped-def]
    """chains29: a second Ctrl-C, whose kill the paused container refuses, printed "Task
    exception was never retrieved" and a traceback before the one line."""
    with paused_later(dockerd, f"orch-paused-4-{presses}") as name:
        cfg = tmp_path / "orch.yaml"
        cfg.write_text(f"environments:\n  victim:\n    layers:\n      - {{type: docker, config: "
                       f"{{container: {name}, docker_host: '{dockerd.host}'}}}}\n")
        proc = subprocess.Popen([sys.executable, "-m", "orch_magics.cli", "-c", str(cfg), "run",
                                 "victim", "--", "sh", "-c", LOOP],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            assert proc.stdout is not None and proc.stdout.readline() == b"ready\n"
            dockerd.api.pause(name)
            proc.send_signal(signal.SIGINT)
            if presses == 2:
                time.sleep(1)
                proc.send_signal(signal.SIGINT)
            _, err = proc.communicate(timeout=90)
        finally:
            if proc.poll() is None:
                proc.kill()
        assert proc.returncode == 128 + signal.SIGINT
        text = err.decode()
        assert text.count("\n") == 1 and "Traceback" not in text, text
        said_what_is_left(text, name, dockerd, closed=True)  # orch has exited


def test_a_named_run_stopped_while_paused_is_failed_and_ends_with_the_orchestrator(
        dockerd) -> None:  # type: ignore[no-untyped-def]
    """named tester: `ps` said `stopped` while the command was still in the container, and
    after an unpause `Orchestrator.close()` (a kernel's end) left it running. The stop could
    not end it, so the run failed; its group stays on the container's warden's list, which
    ends it when the orchestrator closes."""
    with paused_later(dockerd, "orch-paused-6") as name:
        config = load_config_text(
            f"environments:\n  box:\n    layers:\n      - {{type: docker, config: "
            f"{{container: {name}, docker_host: '{dockerd.host}'}}}}\n")
        orch = Orchestrator(config)
        try:
            run = orch.start("box", command=LOOP, name="pz")
            while not run.done and run.lines != ["ready"]:
                time.sleep(0.05)
            dockerd.api.pause(name)
            result = orch.stop("pz", timeout=90)
            assert result.error is not None and "may still run" in str(result.error)
            assert [row.state for row in orch.ps()] == ["failed"]
            dockerd.api.unpause(name)
            assert loops_in(dockerd, name)  # as the error says: it is still there ...
        finally:
            orch.close()
        assert left_after(lambda: loops_in(dockerd, name)) == []  # ... until the close
