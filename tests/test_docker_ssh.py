"""The docker layer behind SSH: the engine's unix socket is forwarded over the hop's connection.

The sshd servers of the ssh lab share this machine's filesystem, so the test engine's socket is
"the remote host's docker socket" for them; the inner host sits in a network namespace reachable
only through the bastion, so `[ssh bastion, ssh inner, docker]` really crosses two hops.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys

import pytest

from orch_magics import Command, Exit, LayeredExecutor, LocalLauncher, Stdout
from orch_magics.config.loader import load_config_text
from orch_magics.errors import ConnectError
from processes import gone, left_after, processes_with
from streams import collect
from unanswered import run_while_unanswered

pytestmark = [pytest.mark.docker, pytest.mark.ssh]


def chain(base: LocalLauncher, ssh_lab, dockerd, hosts=("orch-loop",), **config) -> LayeredExecutor:  # type: ignore[no-untyped-def]
    layers = [ssh_lab.layer(h) for h in hosts] + [dockerd.layer(**config)]
    cfg = load_config_text(ssh_lab.config_yaml(extra_envs={"boxed": layers}))
    return LayeredExecutor(base, cfg.environments["boxed"].layers)


async def test_streams_eof_and_exit_code_through_ssh(base, ssh_lab, dockerd) -> None:
    ex = chain(base, ssh_lab, dockerd)
    assert ex.describe() == "local → ssh orch-loop → docker orch-test"
    handle = await ex.launch(Command.of("wc -c; echo err >&2; exit 5"))
    payload = b"z" * 3_000_000
    await handle.stdin.awrite(payload)
    handle.stdin.close()
    out, err, end = await asyncio.wait_for(collect(handle), 30)
    assert (out.strip(), err, end) == (b"3000000", b"err\n", Exit(code=5))
    assert any(k[0] == "ssh-forward" for k in base.context.pools), "the socket was not forwarded"

    handle = await ex.launch(Command.of(["cat"]))
    events = handle.events()
    for i in range(3):
        handle.stdin.write(f"{i}\n")
        assert await asyncio.wait_for(events.__anext__(), 5) == Stdout(f"{i}\n".encode())
    handle.stdin.close()
    assert await asyncio.wait_for(events.__anext__(), 5) == Exit(code=0)


async def test_two_hops_then_docker_and_interrupt(base, ssh_lab, dockerd) -> None:
    ex = chain(base, ssh_lab, dockerd, hosts=("orch-bastion", "orch-inner"))
    out, _, end = await collect(await ex.launch(Command.of(["echo", "deep"], env={"A": "1"})))
    assert (out, end) == (b"deep\n", Exit(code=0))
    handle = await ex.launch(Command.of("sleep 310 & echo ready; sleep 311"))
    assert await asyncio.wait_for(handle.events().__anext__(), 30) == Stdout(b"ready\n")
    end = await asyncio.wait_for(handle.stop((0.5, 0.5)), 30)
    assert end.signal is not None
    assert not await asyncio.to_thread(left_after, lambda: [
        p for p in dockerd.container_processes("orch-test") if "sleep 31" in p])


async def test_missing_remote_socket_names_the_hop(base, ssh_lab, dockerd) -> None:
    ex = chain(base, ssh_lab, dockerd, docker_host="unix:///nonexistent/docker.sock")
    with pytest.raises(ConnectError) as err:
        await ex.launch(Command.of(["true"]))
    text = str(err.value)
    assert text.startswith("hop 2 (docker orch-test): ") or text.startswith("hop 1 (ssh orch-loop)")
    assert "/nonexistent/docker.sock" in text


@pytest.mark.parametrize(("hosts", "carrier", "blamed"), [
    (("orch-loop",), "loop", "hop 1 (ssh orch-loop)"),
    (("orch-bastion", "orch-inner"), "inner", "hop 2 (ssh orch-inner)"),
    (("orch-bastion", "orch-inner"), "bastion", "hop 1 (ssh orch-bastion)"),
], ids=["one-hop", "two-hops", "bastion"])
async def test_dropped_ssh_under_docker_kills_the_command(base, ssh_lab, dockerd, hosts, carrier, blamed) -> None:  # type: ignore[no-untyped-def]
    """The sshd session carrying the docker connection dies: the exec's process group is
    killed after reconnecting, and the error says so (before: it kept running); the dead
    forward's socket folder is removed at once, the new one when the pools close. The hop
    whose connection dropped says it, as for its own commands (before: the docker hop did,
    and a bastion's drop read as an engine's fault: runs6)."""
    from orch_magics.errors import StreamError

    token = f"979.{os.getpid()}{len(hosts)}"
    ex = chain(base, ssh_lab, dockerd, hosts=hosts)
    handle = await ex.launch(Command.of(f"echo up; sleep {token}; echo never"))
    events = handle.events()
    assert await asyncio.wait_for(events.__anext__(), 10) == Stdout(b"up\n")
    first = forwarded_socket(base)
    for _ in range(100):
        if processes_with(token):
            break
        await asyncio.sleep(0.05)
    assert ssh_lab.servers[carrier].kill_sessions()
    rest = [e async for e in events]
    end = rest[-1]
    assert isinstance(end, Exit) and isinstance(end.error, StreamError), rest
    text = str(end.error)
    assert text.startswith(f"{blamed}: connection lost while the command ran; reconnected and "
                           f"killed process group "), text
    assert "in container 'orch-test'" in text
    assert await gone(token) == []  # the kill has been sent; the kernel may take a moment
    fresh = forwarded_socket(base)
    assert fresh != first and os.path.exists(fresh)
    assert not os.path.exists(os.path.dirname(first)), "the dead forward's folder was left"
    await base.context.aclose()
    assert not os.path.exists(os.path.dirname(fresh))


def forwarded_socket(base: LocalLauncher) -> str:
    """The local end of the docker socket's forward over ssh (its pool entry's path)."""
    [path] = [entry[1] for key, entry in base.context.pools.items() if key[0] == "ssh-forward"]
    return str(path)


NEVER_CLOSED = """
import asyncio, glob, os, sys
from orch_magics import Orchestrator, load_config_text
async def main() -> None:
    result = await Orchestrator(load_config_text(sys.stdin.read())).arun("boxed", command="echo hi")
    print(result.stdout.strip(), len(glob.glob(os.environ["TMPDIR"] + "/orch-ssh-*/sock")))
asyncio.run(main())  # its loop ends with the pools never closed
"""


def test_a_script_that_never_closes_leaves_no_socket_folder(ssh_lab, dockerd, tmp_path) -> None:  # type: ignore[no-untyped-def]
    layers = [ssh_lab.layer("orch-loop"), dockerd.layer()]
    proc = subprocess.run([sys.executable, "-c", NEVER_CLOSED],
                          input=ssh_lab.config_yaml(extra_envs={"boxed": layers}),
                          env={**os.environ, "TMPDIR": str(tmp_path)}, capture_output=True,
                          text=True, timeout=60)
    assert (proc.returncode, proc.stdout) == (0, "hi 1\n"), proc.stderr
    assert list(tmp_path.iterdir()) == []


def test_a_folder_a_killed_process_left_is_removed_by_the_next_one(ssh_lab, dockerd,  # type: ignore[no-untyped-def]
                                                                 tmp_path) -> None:
    """chains8: `kill -9` of `orch run` through ssh → docker left its socket's folder in /tmp
    for good (nothing of it runs at exit); the next process that makes one removes it, not
    the folder of a process still running."""
    (tmp_path / "orch.yaml").write_text(ssh_lab.config_yaml(
        extra_envs={"boxed": [ssh_lab.layer("orch-loop"), dockerd.layer()]}))
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    env = {**os.environ, "TMPDIR": str(tmp)}
    cli = [sys.executable, "-m", "orch_magics.cli", "run", "boxed", "--"]
    killed = subprocess.Popen([*cli, "sh", "-c", "echo up; sleep 60"], cwd=tmp_path, env=env,
                              stdout=subprocess.PIPE)
    assert killed.stdout is not None and killed.stdout.readline() == b"up\n"
    [left] = list(tmp.iterdir())
    killed.kill()
    killed.wait()
    for planted in ("orch-ssh-2147483648-x", "orch-ssh-99999999999999999999-y"):  # no pid
        (tmp / planted).mkdir()  # can be: review17 (an OverflowError stopped every run)
    alive = subprocess.Popen([*cli, "sh", "-c", "echo up; sleep 60"], cwd=tmp_path, env=env,
                             stdout=subprocess.PIPE)
    try:
        assert alive.stdout is not None and alive.stdout.readline() == b"up\n"
        [running] = list(tmp.iterdir())  # the killed one's is gone
        assert running != left
        done = subprocess.run([*cli, "echo", "hi"], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=60)
        assert done.stdout == "hi\n", done.stderr
        assert list(tmp.iterdir()) == [running]  # a running process's folder stays
    finally:
        alive.send_signal(signal.SIGINT)
        alive.wait(30)
    assert list(tmp.iterdir()) == []


EXITS_WITH_RUNS_ON = """
import sys, time
from orch_magics import Orchestrator, load_config_text
orch = Orchestrator(load_config_text(sys.stdin.read()))
named = orch.start("boxed", command="sleep " + sys.argv[1], name="named")
spawned = orch.spawn("boxed", command="sleep " + sys.argv[1] + "1")
while named.pid is None or spawned.pid is None:
    time.sleep(0.05)
print("running", flush=True)  # no close(): the interpreter exits, as a kernel shutting down
"""


def test_interpreter_exit_stops_runs_in_a_container_behind_two_hops(ssh_lab, dockerd) -> None:  # type: ignore[no-untyped-def]
    """Before, the exit hook ran after concurrent.futures had shut its executors down, and
    stopping an exec through the docker SDK and a fresh ssh connection needs them: both
    sleeps stayed in the container."""
    token = f"97{os.getpid()}"
    layers = [ssh_lab.layer("orch-bastion"), ssh_lab.layer("orch-inner"), dockerd.layer()]
    proc = subprocess.run([sys.executable, "-c", EXITS_WITH_RUNS_ON, token],
                          input=ssh_lab.config_yaml(extra_envs={"boxed": layers}),
                          capture_output=True, text=True, timeout=60)
    assert (proc.returncode, proc.stdout) == (0, "running\n"), proc.stderr
    assert "Traceback" not in proc.stderr
    assert [p for p in dockerd.container_processes("orch-test") if token in p] == []


def test_a_host_that_does_not_answer_again_is_one_line_with_the_reason(dockerd, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """The engine's hop drops and its host does not answer again: two tracebacks ("Task
    exception was never retrieved", another at asyncio.run() shutdown: the pooled connect
    was left running when its 5 s were up, then retried for 5 s more) and "(reconnecting
    failed: )" (chains finding 3). One line with the reason now, within the 5 s documented."""
    from fixtures.sshd import SSHLab

    with SSHLab(with_netns=False) as lab:
        config = tmp_path / "orch.yaml"
        config.write_text(lab.config_yaml(extra_envs={
            "boxed": [lab.layer("orch-loop"), dockerd.layer()]}))
        status, err, took = run_while_unanswered(lab.loop, config, "boxed", f"977.{os.getpid()}")
    assert status == 255 and err.count("\n") == 1, err
    assert "it may still be running as process group" in err
    assert err.endswith("(reconnecting failed: timed out connecting to the docker engine on ssh "
                        "orch-loop after 5 s)\n"), err
    assert took < 30, took  # no hang: not the engine client's 60 s, nor attempts in a row
