"""The executor contract through the docker layer, on a real dockerd started by the fixture."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
from pathlib import Path

import pytest

from orch_magics import Command, Exit, LayeredExecutor, LayerError, LocalLauncher, Stdout
from orch_magics.config.loader import layer_spec
from orch_magics.layers.docker import DockerConfig
from processes import left_after, processes_with
from streams import collect

pytestmark = pytest.mark.docker


def docker_exec(base: LocalLauncher, engine, **config) -> LayeredExecutor:  # type: ignore[no-untyped-def]
    config.setdefault("container", "orch-test")
    config.setdefault("docker_host", engine.host)
    return LayeredExecutor(base, [layer_spec("docker", DockerConfig(**config))])


async def test_separate_streams_and_real_exit_codes(base, dockerd) -> None:
    ex = docker_exec(base, dockerd)
    out, err, end = await collect(await ex.launch(Command.of("echo out; echo err >&2; exit 7")))
    assert (out, err, end) == (b"out\n", b"err\n", Exit(code=7))
    out, err, end = await collect(await ex.launch(Command.of(["true"])))
    assert (out, err, end) == (b"", b"", Exit(code=0))
    _, err, end = await collect(await ex.launch(Command.of(["no-such-program"])))
    assert end.code == 127 and b"no-such-program" in err


async def test_output_and_input_stream_live(base, dockerd) -> None:
    """Each line comes back before the next is written: nothing waits for EOF."""
    handle = await docker_exec(base, dockerd).launch(Command.of(["cat"]))
    events = handle.events()
    for i in range(3):
        handle.stdin.write(f"line {i}\n")
        event = await asyncio.wait_for(events.__anext__(), 5)
        assert event == Stdout(f"line {i}\n".encode())
    handle.stdin.close()
    assert await asyncio.wait_for(events.__anext__(), 5) == Exit(code=0)


async def test_stdin_eof_reaches_the_process_and_output_drains(base, dockerd) -> None:
    """`wc -c` only answers after EOF; a large output after EOF still arrives in full."""
    ex = docker_exec(base, dockerd)
    handle = await ex.launch(Command.of(["wc", "-c"]))
    payload = bytes(range(256)) * 8192  # 2 MiB, every byte value
    await handle.stdin.awrite(payload)
    handle.stdin.close()
    out, _, end = await asyncio.wait_for(collect(handle), 20)
    assert (out.strip(), end) == (str(len(payload)).encode(), Exit(code=0))

    handle = await ex.launch(Command.of("cat >/dev/null; head -c 5000000 /dev/zero; echo done >&2"))
    handle.stdin.write("ignored")
    handle.stdin.close()
    out, err, end = await asyncio.wait_for(collect(handle), 20)
    assert (len(out), err, end) == (5_000_000, b"done\n", Exit(code=0))


async def test_binary_round_trip(base, dockerd) -> None:
    handle = await docker_exec(base, dockerd).launch(Command.of(["cat"]))
    payload = bytes(range(256)) * 4000
    handle.stdin.write(payload)
    handle.stdin.close()
    out, _, end = await asyncio.wait_for(collect(handle), 20)
    assert out == payload and end == Exit(code=0)


async def test_env_cwd_and_user(base, dockerd) -> None:
    ex = docker_exec(base, dockerd, environment={"LAYER": "layer", "BOTH": "layer"},
                     workdir="/tmp", user="app")
    cmd = Command.of('echo "$LAYER $BOTH $SVC $(pwd) $(id -u)"', env={"BOTH": "svc", "SVC": "s"})
    out, _, end = await collect(await ex.launch(cmd))
    assert (out, end) == (b"layer svc s /tmp 1000\n", Exit(code=0))
    out, _, _ = await collect(await ex.launch(cmd.with_cwd("/home")))
    assert out.split()[3] == b"/home"


async def test_env_values_never_on_argv(base, dockerd) -> None:
    """A secret passed as a variable is not visible in the container's process list."""
    secret = "s3cret-value-4711"
    ex = docker_exec(base, dockerd)
    handle = await ex.launch(Command.of(["sleep", "5"], env={"TOKEN": secret}))
    try:
        listing = "\n".join(dockerd.container_processes("orch-test"))
        assert "sleep 5" in listing and secret not in listing
    finally:
        await handle.stop((0.5, 0.5))


async def test_tty_merges_streams(base, dockerd) -> None:
    ex = docker_exec(base, dockerd, tty=True)
    out, err, end = await collect(await ex.launch(Command.of("echo out; echo err >&2; tty")))
    assert out.replace(b"\r\n", b"\n").startswith(b"out\nerr\n/dev/pts/")
    assert err == b"" and end == Exit(code=0)


async def test_keys_typed_into_a_tty_exec_all_reach_the_command(base, dockerd) -> None:
    """chains18: Ctrl-P Ctrl-Q, typed one key at a time (a shell's previous line, then…), are
    docker's default detach keys: the engine killed the command, and the run said exit 126
    with the engine's words as its output. Through ssh and podman they reach the command."""
    handle = await docker_exec(base, dockerd, tty=True).launch(
        Command.of('read x; echo "got $x"; read y; echo "got2 $y"'))
    collected = asyncio.ensure_future(collect(handle))
    for key in (b"hello\n", b"\x10", b"\x11", b"more\n"):  # one read each, as typed
        handle.stdin.write(key)
        await asyncio.sleep(0.3)
    out, _, end = await asyncio.wait_for(collected, 30)
    assert end == Exit(code=0) and b"got hello\r\n" in out, (out, end)
    assert b"got2 \x10more\r\n" in out, out  # the tty's own IXON takes ^Q, as a terminal's would


async def test_interrupt_leaves_nothing_in_the_container(base, dockerd) -> None:
    """INT reaches the command and its children (even a background one ignoring INT)."""
    ex = docker_exec(base, dockerd)
    handle = await ex.launch(Command.of("sleep 300 & echo ready; sleep 301; echo unreachable"))
    assert await asyncio.wait_for(handle.events().__anext__(), 30) == Stdout(b"ready\n")
    assert any("sleep 30" in p for p in dockerd.container_processes("orch-test"))
    end = await asyncio.wait_for(handle.stop((0.5, 0.5)), 30)
    assert end.signal is not None
    left = await asyncio.to_thread(left_after, lambda: [
        p for p in dockerd.container_processes("orch-test") if "sleep 30" in p])
    assert left == []


async def test_plain_interrupt_stops_a_cooperative_command(base, dockerd) -> None:
    handle = await docker_exec(base, dockerd).launch(Command.of(["sleep", "300"]))
    await handle.interrupt()
    end = await asyncio.wait_for(handle.wait(), 5)
    assert end.signal == 2


async def test_pick_container_by_label_and_compose_service(base, dockerd) -> None:
    for config in ({"label": "orch.role=web"}, {"service": "web"},
                   {"service": "web", "project": "orchproj"}):
        ex = docker_exec(base, dockerd, container=None, **config)
        out, _, _ = await collect(await ex.launch(Command.of(["hostname"])))
        info = dockerd.api.inspect_container("orchproj-web-1")
        assert out.strip() == info["Config"]["Hostname"].encode()


async def test_a_compose_service_in_several_projects_needs_its_project(base, dockerd) -> None:
    """s9-docker #6: `service: web` without `project:` ran in whichever project's `web` sorted
    first by name (another stack on the same host: staging's, not prod's), without a word."""
    other = {"com.docker.compose.project": "aaother", "com.docker.compose.service": "web",
             "com.docker.compose.container-number": "1"}
    with dockerd.labelled(other, ["aaother-web-1"]):
        with pytest.raises(LayerError) as info:
            await docker_exec(base, dockerd, container=None, service="web").launch(
                Command.of(["hostname"]))
        assert str(info.value).startswith(
            "hop 1 (docker web): compose service 'web' runs in 2 compose projects on the "
            "engine on this machine (aaother, orchproj): add `project:` to pick one"), info.value
        for project in ("orchproj", "aaother"):
            ex = docker_exec(base, dockerd, container=None, service="web", project=project)
            out, _, _ = await collect(await ex.launch(Command.of(["hostname"])))
            assert out == f"{project}-web-1\n".encode()


async def test_docker_host_from_the_environment(base, dockerd, monkeypatch) -> None:
    monkeypatch.setenv("DOCKER_HOST", dockerd.host)
    ex = LayeredExecutor(base, [layer_spec("docker", DockerConfig(container="orch-test"))])
    out, _, end = await collect(await ex.launch(Command.of(["echo", "via env"])))
    assert (out, end) == (b"via env\n", Exit(code=0))


async def test_concurrent_runs_share_one_engine_connection(base, dockerd) -> None:
    ex = docker_exec(base, dockerd)
    handles = await asyncio.gather(*(ex.launch(Command.of(f"echo {i}")) for i in range(8)))
    results = await asyncio.gather(*(collect(h) for h in handles))
    assert [r[0] for r in results] == [f"{i}\n".encode() for i in range(8)]
    assert sum(1 for k in base.context.pools if k[0] == "docker") == 1


async def test_orchestrator_run_from_yaml(dockerd) -> None:
    from orch_magics import Orchestrator, load_config_text

    config = load_config_text(f"""\
environments:
  box:
    layers:
      - {{type: docker, config: {{container: orch-test, docker_host: "{dockerd.host}"}}}}
services:
  hello: {{command: 'echo "hi from $(hostname)"; exit 3'}}
""")
    orch = Orchestrator(config)
    try:
        result = await orch.arun("box", "hello")
    finally:
        await orch.aclose()
    assert result.stdout.startswith("hi from ") and result.returncode == 3


@pytest.mark.parametrize("env", [{}, {"A": "1"}], ids=["no-preamble", "preamble"])
async def test_a_launch_given_up_on_as_the_exec_starts_leaves_nothing_running(
        base, dockerd, monkeypatch, env) -> None:  # type: ignore[no-untyped-def]
    """s8-fleet #1: a stop or a --timeout that cancelled a launch once the engine had started
    the exec (a fleet starting 10 execs at once) left the command running in the container:
    the engine has no exec kill and no handle had been made to stop it with. The launch is
    cancelled here the moment the exec's stream opens (the real race needs a loaded engine)."""
    from orch_magics.layers.docker_engine import Engine

    opened, ids = asyncio.Event(), []
    real = Engine.open_exec

    async def open_exec(self, exec_id, **kw):  # type: ignore[no-untyped-def]
        stream = await real(self, exec_id, **kw)
        if "3613" in self.api.exec_inspect(exec_id)["ProcessConfig"]["arguments"]:
            ids.append(exec_id)  # this run's exec (not the container's warden, beside it)
            opened.set()
        return stream

    monkeypatch.setattr(Engine, "open_exec", open_exec)
    ex = docker_exec(base, dockerd)
    launching = asyncio.ensure_future(ex.launch(Command(("sleep", "3613"), env=env)))
    await asyncio.wait_for(opened.wait(), 30)
    launching.cancel()
    with pytest.raises(asyncio.CancelledError):
        await launching
    ended = dockerd.api.exec_inspect(ids[0])
    for _ in range(100):  # the engine's word: the exec ended (not merely not yet seen)
        if not ended["Running"] and ended["ExitCode"] is not None:
            break
        await asyncio.sleep(0.1)
        ended = dockerd.api.exec_inspect(ids[0])
    assert (ended["Running"], ended["ExitCode"]) == (False, 128 + 9)
    assert left_after(lambda: processes_with("sleep\x003613")) == []  # (argv: NUL-separated)


def _shim_of(pid: int) -> int:
    """The containerd shim a container's process descends from (its runtime's keeper)."""
    while pid > 1:
        if Path(f"/proc/{pid}/comm").read_text().startswith("containerd-shim"):
            return pid
        pid = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    raise AssertionError("no containerd-shim above the exec")


async def test_a_run_ends_when_its_containers_shim_is_killed(
        base: LocalLauncher, dockerd, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    """chains11: with the container's containerd-shim killed (the container exits 137), the
    engine never closes the exec: the run waited for ever, and a Ctrl-C then blamed a paused
    container. The layer looks at the container while an exec runs (CONTAINER_CHECK)."""
    from orch_magics.layers import docker_exec

    monkeypatch.setattr(docker_exec, "CONTAINER_CHECK", 1.0)
    with dockerd.labelled({}, ["orch-shim-killed"]) as (name,):
        ex = LayeredExecutor(base, [layer_spec("docker", DockerConfig(
            container=name, docker_host=dockerd.host))])
        handle = await ex.launch(Command.of("echo up; exec sleep 3853"))
        assert await asyncio.wait_for(handle.events().__anext__(), 30) == Stdout(b"up\n")
        sleeper = int(subprocess.run(["pgrep", "-f", "^sleep 3853"], capture_output=True,
                                     text=True).stdout.split()[0])
        os.kill(_shim_of(sleeper), signal.SIGKILL)
        end = await asyncio.wait_for(handle.wait(), 30)
        assert end.signal == signal.SIGKILL or end.code == 137, end
        assert subprocess.run(["pgrep", "-f", "^sleep 3853"]).returncode == 1


async def test_the_container_watch_never_holds_the_workers_other_calls_need(
        base: LocalLauncher, dockerd, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    """review22: each look at the container ran on the loop's default workers, and a wait that
    gave up on it did not free its thread: with the engine hung, the looks piled up until no
    worker was left for anything else (a stop's calls, another engine's)."""
    from orch_magics.layers import docker_exec

    monkeypatch.setattr(docker_exec, "CONTAINER_CHECK", 0.1)
    with dockerd.labelled({}, ["orch-watch-hung"]) as (name,):
        ex = LayeredExecutor(base, [layer_spec("docker", DockerConfig(
            container=name, docker_host=dockerd.host))])
        handle = await ex.launch(Command.of("echo up; exec sleep 3854"))
        assert await asyncio.wait_for(handle.events().__anext__(), 30) == Stdout(b"up\n")
        os.kill(dockerd.proc.pid, signal.SIGSTOP)  # the engine hangs: every look waits
        try:
            await asyncio.sleep(3)  # thirty looks' time
            free = asyncio.get_running_loop().run_in_executor(None, lambda: "free")
            done, _ = await asyncio.wait({free}, timeout=5)
            assert free in done, "the default workers are all held by looks at the container"
        finally:
            os.kill(dockerd.proc.pid, signal.SIGCONT)
        await handle.kill()
        await asyncio.wait_for(handle.wait(), 30)
