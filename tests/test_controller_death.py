"""A controller killed outright (SIGKILL, the OOM killer, a kernel that died) leaves no process
behind: not on this machine (the lifeline watchdog) and not behind ssh hops (the wrapper
watches its server's session)."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lab_kernel import lab_kernel
from processes import kill_all, left_after, processes_with

ORCH = [sys.executable, "-m", "orch_magics.cli"]


@pytest.fixture
def cfg(ssh_lab, tmp_path: Path) -> Path:  # type: ignore[no-untyped-def]
    path = tmp_path / "orch.yaml"
    path.write_text(ssh_lab.config_yaml(extra_envs={"local": []}))
    return path


def _started(proc: subprocess.Popen[bytes]) -> None:
    """Wait for the run's first line."""
    assert proc.stdout is not None
    assert proc.stdout.readline() == b"up\n", proc.communicate(timeout=30)


def _running(token: str, count: int, *, but: int = 0) -> list[int]:
    """The processes whose argv holds `token` (but pid `but`), once there are `count` (30 s
    at most)."""
    deadline = time.monotonic() + 30
    while len(found := _far(token, but)) < count and time.monotonic() < deadline:
        time.sleep(0.05)
    return found


def _exec_of(token: str, but: int, program: bytes) -> int:
    """The process with `token` running `program`, once it has exec'd it (30 s at most): it
    said `up` a moment before (CI of 788884a: read then, it was still `sh`)."""
    deadline = time.monotonic() + 30
    while True:
        for pid in _far(token, but):
            with contextlib.suppress(OSError):
                if Path(f"/proc/{pid}/cmdline").read_bytes().startswith(program):
                    return pid
        assert time.monotonic() < deadline, f"no {program!r} with {token} runs"
        time.sleep(0.05)


def _far(token: str, but: int = 0) -> list[int]:
    """The processes whose argv holds `token`, but pid `but` (orch's own, whose argv has it)."""
    return [pid for pid in processes_with(token) if pid != but]


@pytest.mark.ssh
@pytest.mark.parametrize("group", ["same", "own"], ids=["one-group", "timeout-makes-a-group"])
@pytest.mark.parametrize("env", ["local", "loop", "two"])
def test_a_killed_cli_leaves_nothing_running_anywhere(cfg: Path, env: str, group: str) -> None:
    """Before: `kill -9` of `orch run` left the command and its background child running, on
    this machine or on the far host, for ever (GNU `timeout` puts its child in a group of its
    own: the session is swept too)."""
    token = f"31{len(env)}{len(group)}.{os.getpid()}"
    command = f"sleep {token}1 & echo up; exec sleep {token}2" if group == "same" else \
        f"echo up; timeout 100 sh -c 'sleep {token}1 & exec sleep {token}2'; exit"
    _kill_the_cli_while_it_runs(cfg, env, command, token)


@pytest.mark.ssh
@pytest.mark.parametrize("env", ["dock", "deep", "pod"])
def test_a_killed_cli_leaves_nothing_in_the_container(ssh_lab, request, tmp_path: Path,  # type: ignore[no-untyped-def]
                                                      env: str) -> None:
    """Before: an exec outlived the engine connection that started it, so `kill -9` of
    `orch run` left the command running in the container (docker, behind two ssh hops, or
    podman). The container's warden exec (layers/docker_warden.py) sees its connection end
    and stops it."""
    path = tmp_path / "orch.yaml"
    engine = request.getfixturevalue("podman" if env == "pod" else "dockerd")
    hops = [ssh_lab.layer("orch-bastion"), ssh_lab.layer("orch-inner")] if env == "deep" else []
    path.write_text(ssh_lab.config_yaml(extra_envs={env: [*hops, engine.layer()]}))
    token = f"35{len(env)}.{os.getpid()}"
    _kill_the_cli_while_it_runs(path, env, f"sleep {token}1 & echo up; exec sleep {token}2",
                                token)


@pytest.mark.parametrize("tty", [False, True], ids=["pipes", "tty"])
@pytest.mark.parametrize("engine", ["dockerd", "podman"])
def test_a_cli_killed_the_moment_its_command_starts_leaves_nothing_in_the_container(
        request, tmp_path: Path, engine: str, tty: bool) -> None:  # type: ignore[no-untyped-def]
    """layers7 F3: killed within ~0.1 s of its command's start (podman 5 runs in 5, docker
    2 in 5), the command ran on: the preamble was sent before the warden knew of the run.
    Now the group is listed first, and a wrapper cut short of its preamble runs nothing.
    chains22: under a TTY (no preamble) it ran on about one time in two, the warden not yet
    started; a TTY's command now waits for it (killed 50 ms in, it was left before)."""
    path = tmp_path / "orch.yaml"
    path.write_text(f"environments:\n  here:\n    layers:\n      - "
                    f"{request.getfixturevalue(engine).layer(tty=tty)}\n")
    for attempt in range(3):
        token = f"36{len(engine)}{attempt}{int(tty)}.{os.getpid()}"
        proc = subprocess.Popen([*ORCH, "-c", str(path), "run", "here", "--", "sh", "-c",
                                 f"sleep {token}1 & exec sleep {token}2"],
                                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
        with _killed_at_the_end(proc, token):
            deadline = time.monotonic() + 30  # the moment the first of them is there
            while not _far(token, proc.pid) and time.monotonic() < deadline:
                time.sleep(0.005)
            if tty:  # nothing holds a TTY's command back (no preamble): the moment between
                time.sleep(0.05)  # its start and its listing (its pid's way back) stays open


def _kill_the_cli_while_it_runs(cfg: Path, env: str, command: str, token: str,
                                **variables: str) -> None:
    """`orch run ENV -- sh -c COMMAND`, SIGKILLed once COMMAND said `up` and two processes
    with `token` run: none of them may be left 15 s later."""
    proc = subprocess.Popen([*ORCH, "-c", str(cfg), "run", env, "--", "sh", "-c", command],
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            env={**os.environ, **variables})
    with _killed_at_the_end(proc, token):
        _started(proc)
        assert len(_running(token, 2, but=proc.pid)) >= 2


@contextlib.contextmanager
def _killed_at_the_end(proc: subprocess.Popen[bytes], token: str) -> Iterator[None]:
    """After the block, SIGKILL the controller `proc`: nothing with `token` may be left 15 s
    later (and whatever is, is killed)."""
    try:
        yield
        proc.kill()
        proc.wait()
        assert left_after(lambda: _far(token), within=15) == []
    finally:
        proc.kill()
        kill_all(processes_with(token))


def test_a_killed_cli_leaves_its_stdout_to_the_reader(cfg: Path) -> None:
    """The watchdog holds no pipe of orch's: a reader after `orch run … | cat` still ends when
    orch dies, while the far command is being stopped."""
    token = f"32.{os.getpid()}"
    reader = subprocess.Popen(["cat"], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    proc = subprocess.Popen([*ORCH, "-c", str(cfg), "run", "local", "--", "sh", "-c",
                             f"echo up; exec sleep {token}"], stdout=reader.stdin)
    assert reader.stdin is not None and reader.stdout is not None
    reader.stdin.close()
    try:
        assert reader.stdout.readline() == b"up\n"
        proc.kill()
        assert reader.stdout.read() == b"" and reader.wait(timeout=10) == 0
        assert left_after(lambda: _far(token), within=15) == []
    finally:
        proc.kill()
        reader.kill()
        kill_all(processes_with(token))


SCRIPT = """
import asyncio, os, signal, sys
from orch_magics.orchestrator import Orchestrator

def watchdog(p: str) -> bool:
    try:  # a process may end between the listing and the reading
        return (b"INT QUIT HUP TERM" in open(f"/proc/{{p}}/cmdline", "rb").read()
                and open(f"/proc/{{p}}/stat").read().rsplit(")", 1)[1].split()[1]
                == str(os.getpid()))
    except OSError:
        return False

async def main() -> None:
    orch = Orchestrator(sys.argv[1])
    first = await orch.launch("local", command="exec sleep {token}1")
    for _ in range(100):  # it starts beside the first child, a moment after it
        watchdogs = [int(p) for p in os.listdir("/proc") if p.isdigit() and watchdog(p)]
        if watchdogs:
            break
        await asyncio.sleep(0.05)
    assert len(watchdogs) == 1, watchdogs
    os.kill(watchdogs[0], signal.SIGKILL)  # the watchdog dies first: another one takes over
    await asyncio.sleep(0.5)
    second = await orch.launch("local", command="exec sleep {token}2")
    if os.fork() == 0:  # a forked child keeps no end of the lifeline: it outlives the parent
        os.execvp("sleep", ["sleep", "{token}9"])
    print("up", flush=True)
    await asyncio.sleep(60)

asyncio.run(main())
"""


def test_a_killed_watchdog_is_replaced_and_a_fork_holds_no_lifeline(cfg: Path,
                                                                   tmp_path: Path) -> None:
    token = f"33.{os.getpid()}"
    script = tmp_path / "controller.py"
    script.write_text(textwrap.dedent(SCRIPT.format(token=token)))
    proc = subprocess.Popen([sys.executable, str(script), str(cfg)], stdout=subprocess.PIPE)
    try:
        _started(proc)
        assert len(_running(token, 3)) == 3
        proc.kill()
        proc.wait()
        assert left_after(lambda: _far(f"{token}1") + _far(f"{token}2"), within=15) == []
        assert _far(f"{token}9")  # not a run: the watchdog leaves it alone
    finally:
        proc.kill()
        kill_all(processes_with(token))


def test_a_kernel_that_dies_during_a_cell_leaves_nothing_running(orch_kernel: str,
                                                               tmp_path: Path) -> None:
    """A kernel killed by its manager (`Restart` on a kernel that does not answer, the OOM
    killer) while a cell ran: the cell's command used to run on, orphaned."""
    token = f"34.{os.getpid()}"
    (tmp_path / "orch.yaml").write_text(
        "environments:\n  local: {layers: []}\nservices:\n"
        f"  sleepy: {{command: 'sleep {token}1 & echo up; exec sleep {token}2'}}\n")
    with lab_kernel(orch_kernel) as kernel:
        assert kernel.run("load", f"%orch load {tmp_path / 'orch.yaml'}")["status"] == "ok"
        kernel.kc.execute("%orch local sleepy")
        assert len(_running(token, 2)) == 2
        kernel.km.shutdown_kernel(now=True)  # SIGKILL to the kernel's process group
    try:
        assert left_after(lambda: _far(token), within=15) == []
    finally:
        kill_all(processes_with(token))


@pytest.mark.ssh
@pytest.mark.parametrize("where", ["local", "ssh"])
def test_a_killed_cli_stops_what_runs_as_another_user(sudo_lab, ssh_lab, tmp_path: Path,  # type: ignore[no-untyped-def]
                                                      where: str) -> None:
    """sudo → sudo on this machine, ssh → ssh → sudo: the target user's processes go too."""
    from test_sudo_layer import chain, config_text

    token = f"35{len(where)}.{os.getpid()}"
    last = sudo_lab.layer(sudo_lab.target, password=True)
    cfg = tmp_path / "orch.yaml"
    cfg.write_text(config_text({"it": chain(sudo_lab, None if where == "local" else ssh_lab,
                                            last)}))
    _kill_the_cli_while_it_runs(cfg, "it", f"sleep {token}1 & echo up; exec sleep {token}2",
                                token, ORCH_SECRET_SUDO_PW=sudo_lab.password)



@pytest.mark.ssh
def test_a_killed_sleep_of_the_watch_leaves_the_run_alone(cfg: Path) -> None:
    """The far wrapper's watch sleeps a second at a time: a `pkill sleep` on that host used
    to end the watch as if the session were gone, killing every run there."""
    token = f"37.{os.getpid()}"
    proc = subprocess.Popen([*ORCH, "-c", str(cfg), "run", "loop", "--", "sh", "-c",
                             f"echo up; sleep 3; echo done {token}"],
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE)
    try:
        _started(proc)
        watches = [p for p in _far(token, proc.pid) if _children(p, "sleep\x001\x00")]
        assert watches, "no watch runs next to the command"
        for watch in watches:
            for child in _children(watch, "sleep\x001\x00"):
                os.kill(child, 15)
        out, _ = proc.communicate(timeout=30)
        assert (out, proc.returncode) == (f"done {token}\n".encode(), 0)
    finally:
        proc.kill()
        kill_all(processes_with(token))


def _children(pid: int, argv: str) -> list[int]:
    """Children of `pid` whose argv (NUL-separated) is `argv`."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if (entry.name.isdigit()
                    and (entry / "stat").read_text().rsplit(")", 1)[1].split()[1] == str(pid)
                    and (entry / "cmdline").read_bytes() == argv.encode()):
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def test_a_wrapper_whose_parent_just_starts_it_is_not_watched(tmp_path: Path) -> None:
    """A container runtime in the host's pid namespace (`--pid=host`) starts the wrapper and
    exits, as does this shell: the run used to be killed a second later."""
    from orch_magics.layers.remote import wrapped_argv

    out = tmp_path / "out"
    argv = wrapped_argv(["sh", "-c", f"sleep 2; echo finished >{out}"])
    starter = 'setsid "$@" </dev/null >/dev/null 2>&1 & sleep 0.5'  # a session, as runc makes
    subprocess.run(["sh", "-c", starter, "sh", *argv], check=True)
    deadline = time.monotonic() + 30
    while not out.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert out.read_text() == "finished\n"


CONTROLLER = """
import sys, time
from orch_magics import Orchestrator, load_config

orch = Orchestrator(load_config(sys.argv[1]))
for n, command in enumerate(sys.argv[2:]):
    run = orch.start("dock", command=command, name=f"run{n}")
    while run.handle is None:  # set once the launch has returned: the run is listed
        time.sleep(0.05)
    print("started", flush=True)
    sys.stdin.readline()
"""


def test_a_warden_started_again_still_covers_the_runs_of_the_one_that_died(  # type: ignore[no-untyped-def]
        dockerd, tmp_path: Path) -> None:
    """A warden killed in the container (`pkill -f sleep` matches its script) is started
    again by the next run there. Before, the new one listed only that next run, so a
    controller killed then left the earlier one running in the container."""
    path = tmp_path / "orch.yaml"
    path.write_text(f"environments:\n  dock: {{layers: [{dockerd.layer()}]}}\n")
    token = f"36.{os.getpid()}"

    def wardens() -> list[int]:
        return [int(p.split()[0]) for p in dockerd.container_processes("orch-test")
                if "while read -r p" in p]

    proc = subprocess.Popen([sys.executable, "-c", CONTROLLER, str(path), f"exec sleep {token}1",
                             f"exec sleep {token}2"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE)
    assert proc.stdin is not None and proc.stdout is not None
    with _killed_at_the_end(proc, token):
        assert proc.stdout.readline() == b"started\n"
        assert wardens(), "the first run in the container started its warden"
        for pid in wardens():
            dockerd.api.exec_start(dockerd.api.exec_create("orch-test", ["kill", "-9", str(pid)]))
        assert left_after(wardens, within=15) == []
        assert _far(f"{token}1", but=proc.pid), "the first run goes on"
        proc.stdin.write(b"next\n")
        proc.stdin.flush()
        assert proc.stdout.readline() == b"started\n"
        # started with the run, in the background (a run waits READY_WAIT for it, then goes
        # on): on a loaded machine it may show a moment after the run
        assert left_after(lambda: [] if wardens() else ["none"], within=15) == [], \
            "the next run started a warden again"


def test_the_warden_holds_none_of_the_layers_variables_and_needs_none_of_its_folders(  # type: ignore[no-untyped-def]
        dockerd, tmp_path: Path) -> None:
    """s9-docker #2, #5: the warden was started with the layer's variables, so a secret in
    them stayed in its /proc/PID/environ, readable in the container for the kernel's whole
    life; and in the layer's workdir, so where that folder is missing (a service's own
    working_dir wins) no warden started and `kill -9` of `orch run` left the run going."""
    path = tmp_path / "orch.yaml"
    layer = dockerd.layer(environment={"TOKEN": "{{secret:tok}}"}, workdir="/no/such/folder")
    token = f"37.{os.getpid()}"
    path.write_text(f"environments:\n  dock: [{layer}]\nservices:\n  nap: {{command: 'echo up;"
                    f" exec sleep {token}1', working_dir: /tmp}}\n")
    sentinel = f"warden-sentinel-{os.getpid()}"

    def wardens() -> list[int]:
        return [int(p.split()[0]) for p in dockerd.container_processes("orch-test")
                if "while read -r p" in p]

    proc = subprocess.Popen([*ORCH, "-c", str(path), "run", "dock", "nap"],
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            env={**os.environ, "ORCH_SECRET_TOK": sentinel})
    with _killed_at_the_end(proc, token):
        _started(proc)
        assert _running(token, 1, but=proc.pid)
        deadline = time.monotonic() + 15
        while not wardens() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert wardens(), "a warden watches the run"
        for pid in wardens():
            created = dockerd.api.exec_create("orch-test", ["cat", f"/proc/{pid}/environ"])
            environ = dockerd.api.exec_start(created["Id"])
            assert environ and sentinel.encode() not in environ, environ


async def test_a_run_listed_with_a_warden_that_closes_meanwhile_is_not_cancelled() -> None:
    """A launch lists its run with the container's warden while that warden is being closed
    (its engine was just dropped): waiting for the warden's start, cancelled by the close,
    raised CancelledError into the launch, which then stopped a run nobody had cancelled.
    (A start that never ends stands in for an exec slow to start: a race the real engine
    gives only now and then.)"""
    import asyncio

    from orch_magics.layers.docker_warden import Warden

    async def never_starts():  # type: ignore[no-untyped-def]
        await asyncio.sleep(3600)

    warden = Warden(never_starts)
    listing = asyncio.ensure_future(warden.watch(4242))
    await asyncio.sleep(0.05)
    await warden.close()
    await asyncio.wait_for(listing, 10)  # before: CancelledError


#: A controller whose run handles SIG and goes on, sent SIG COUNT times, then killed outright.
SIGNALLED = """
import asyncio, sys
from orch_magics.orchestrator import Orchestrator

async def main() -> None:
    orch = Orchestrator(sys.argv[1])
    handle = await orch.launch("loop", command=["sh", "-c",
        "trap 'echo got' {sig}; echo up; while :; do sleep {token}; done"])
    events = handle.events()
    assert await events.__anext__()
    asyncio.get_running_loop().create_task(handle.wait())
    await asyncio.sleep(1.5)  # its watch has started
    for _ in range({count}):
        await handle.send_signal({sig!r})
        await asyncio.sleep(0.4)
    print("signalled", flush=True)
    await asyncio.sleep(120)

asyncio.run(main())
"""


@pytest.mark.ssh
@pytest.mark.parametrize(("sig", "count"), [("USR1", 3), ("HUP", 3), ("TERM", 1), ("40", 3)])
def test_signals_a_run_handled_leave_its_watch_to_stop_it_when_the_controller_dies(
        cfg: Path, tmp_path: Path, sig: str, count: int) -> None:
    """A signal sent to the run killed the far watch's `sleep`; two within ~2 s (dd's progress
    asked twice, two log-reopen HUPs), or one TERM a server handles, ended the watch without a
    word, and a controller killed afterwards left the command running for ever (review7). The
    watch ignores every signal but KILL now, and the wrapper ends it by pid."""
    token = f"77{len(sig)}{count}.{os.getpid()}"
    script = tmp_path / "controller.py"
    script.write_text(textwrap.dedent(SIGNALLED.format(sig=int(sig) if sig.isdigit() else sig,
                                                       count=count, token=token)))
    proc = subprocess.Popen([sys.executable, str(script), str(cfg)], stdout=subprocess.PIPE)
    try:
        assert proc.stdout is not None and proc.stdout.readline() == b"signalled\n"
        assert processes_with(token), "the command handles its signals and goes on"
        proc.kill()
        proc.wait()
        assert left_after(lambda: processes_with(token), within=15) == []
    finally:
        proc.kill()
        kill_all(processes_with(token))


def _wrapper_of(pid: int) -> int:
    """The remote wrapper (`sh -c _orch_n=$1; …`) above process `pid`."""
    while pid > 1:
        if b"_orch_n=$1" in Path(f"/proc/{pid}/cmdline").read_bytes():
            return pid
        pid = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    raise AssertionError("no wrapper above the command")


@pytest.mark.ssh
@pytest.mark.parametrize("env", ["loop", "dock", "pod", "sudo"])
def test_a_wrapper_killed_from_outside_leaves_nothing_running(ssh_lab, request,  # type: ignore[no-untyped-def]
                                                              tmp_path: Path, env: str) -> None:
    """chains10: `kill -9` of the far wrapper (an operator's, the OOM killer's) left the
    command running behind sudo, podman and docker, reparented to init, while the run said
    "killed by SIGKILL". The wrapper's watch now sees the wrapper gone and stops its group."""
    variables = {}
    if env == "sudo":
        from test_sudo_layer import chain, config_text

        lab = request.getfixturevalue("sudo_lab")
        text = config_text({"sudo": chain(lab, None, lab.layer(lab.target, password=True))})
        variables["ORCH_SECRET_SUDO_PW"] = lab.password
    else:
        layer = [] if env == "loop" else [
            request.getfixturevalue("podman" if env == "pod" else "dockerd").layer()]
        text = ssh_lab.config_yaml(extra_envs={env: layer} if layer else {})
    cfg = tmp_path / "orch.yaml"
    cfg.write_text(text)
    token = f"38{len(env)}.{os.getpid()}"
    proc = subprocess.Popen([*ORCH, "-c", str(cfg), "run", env, "--", "sh", "-c",
                             f"sleep {token}1 & echo up; exec sleep {token}2"],
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            env={**os.environ, **variables})
    try:
        _started(proc)
        running = _running(token, 2, but=proc.pid)
        assert len(running) >= 2
        os.kill(_wrapper_of(running[0]), 9)
        proc.wait(timeout=30)  # the run ends: its wrapper is gone
        assert left_after(lambda: _far(token, proc.pid), within=15) == []
    finally:
        proc.kill()
        kill_all(processes_with(token))


def _runs_leave_nothing(dockerd, image: str, tmp_path: Path, layers: Any,  # type: ignore[no-untyped-def]
                        argv: list[str], out: bytes) -> None:
    """Three runs of `argv` through `layers(name)` into a container of `image` started with no
    init (`sleep infinity` is PID 1, which never reaps): nothing may be left in it, no
    zombie either."""
    name = f"orch-noinit-{os.getpid()}"
    created = dockerd.api.create_container(
        image, name=name, host_config=dockerd.api.create_host_config(network_mode="none"))
    dockerd.api.start(created["Id"])
    try:
        cfg = tmp_path / "orch.yaml"
        cfg.write_text("environments:\n  bare:\n    layers:" + ("".join(
            f"\n      - {layer}" for layer in layers(name)) or " []") + "\n")
        for _ in range(3):
            done = subprocess.run([*ORCH, "-c", str(cfg), "run", "bare", "--", *argv],
                                  capture_output=True, timeout=60, stdin=subprocess.DEVNULL)
            assert (done.returncode, done.stdout) == (0, out), done.stderr
        assert left_after(lambda: dockerd.container_processes(name), within=5) == []
    finally:
        dockerd.api.remove_container(created["Id"], force=True)


@pytest.mark.docker
def test_runs_leave_no_zombie_in_a_container_whose_init_never_reaps(dockerd,  # type: ignore[no-untyped-def]
                                                                    tmp_path: Path) -> None:
    """review19: with the wrapper's watch started under a container runtime too, each run left
    the watch and its `sleep` to PID 1: two zombies per run, until the container's pids
    limit."""
    from fixtures.dockerd import IMAGE

    _runs_leave_nothing(dockerd, IMAGE, tmp_path, lambda name: [dockerd.layer(container=name)],
                        ["echo", "ran"], b"ran\n")


@pytest.mark.docker
def test_runs_through_sudo_leave_no_zombie_in_a_container_whose_init_never_reaps(  # type: ignore[no-untyped-def]
        dockerd, sudo_container, tmp_path: Path) -> None:
    """chains11: behind docker → sudo the wrapper's parent is sudo, so it is watched; at its
    end the watch and its `sleep` were left to PID 1, two zombies a run until the container
    could not fork. The watch now ends and reaps its own sleep."""
    from fixtures.sudo_image import IMAGE

    _runs_leave_nothing(dockerd, IMAGE, tmp_path, lambda name: [
        dockerd.layer(container=name, user=sudo_container.login),
        sudo_container.layer(sudo_container.free)], ["id", "-un"],
        f"{sudo_container.free}\n".encode())


def test_an_exec_whose_conmon_is_killed_says_so(podman, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """chains11: killing the exec's conmon ended the run with returncode -1 and no error,
    read as the command's own `exit 255`."""
    cfg = tmp_path / "orch.yaml"
    cfg.write_text(f"environments:\n  pod:\n    layers:\n      - {podman.layer()}\n")
    token = f"39.{os.getpid()}"
    proc = subprocess.Popen([*ORCH, "-c", str(cfg), "run", "pod", "--", "sh", "-c",
                             f"echo up; exec sleep {token}"],
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    try:
        _started(proc)
        command = _exec_of(token, proc.pid, b"sleep")
        conmon = int(Path(f"/proc/{_wrapper_of(command)}/stat").read_text()
                     .rsplit(")", 1)[1].split()[1])
        assert b"conmon" in Path(f"/proc/{conmon}/cmdline").read_bytes()
        os.kill(conmon, 9)
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 255, err  # a chain that broke, as ssh says it
        assert b"(podman orch-test): the podman API lost the exec before its exit status was " \
               b"known" in err, err
        assert left_after(lambda: _far(token, proc.pid), within=15) == []
    finally:
        proc.kill()
        kill_all(processes_with(token))
