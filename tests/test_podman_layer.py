"""The podman layer on a real podman: where it finds the socket, and the errors that apply."""

from __future__ import annotations

import asyncio
import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from fixtures.daemon import stop_group
from fixtures.ports import free_port
from orch_magics import Command, Exit, LayeredExecutor, LocalLauncher, Orchestrator, Stdout
from orch_magics.config.loader import layer_spec, load_config_text
from orch_magics.errors import ConfigError, ConnectError, LayerError
from orch_magics.layers.podman import ROOTFUL, PodmanConfig, Socket, socket_address
from streams import collect, read_line


def executor(base: LocalLauncher, **config: Any) -> LayeredExecutor:
    config.setdefault("container", "orch-test")
    return LayeredExecutor(base, [layer_spec("podman", PodmanConfig(**config))])


async def test_a_workdir_the_user_may_not_enter_is_126(base, podman) -> None:
    """As through docker and ssh: the directory is entered as the user, not by the runtime."""
    top = f"/closed-{os.getpid()}"
    made = await collect(await executor(base, podman_host=podman.host).launch(
        Command.of(["sh", "-c", f"mkdir -p {top}/in && chmod 700 {top}"])))
    assert made[2] == Exit(0)
    for cwd in (top, f"{top}/in"):
        handle = await executor(base, podman_host=podman.host, user="app").launch(
            Command.of(["pwd"], cwd=cwd))
        assert await collect(handle) == (b"", f"orch: cannot enter working directory {cwd} as "
                                              f"app: permission denied\n".encode(), Exit(126))


async def test_runs_in_the_container_found_through_container_host(base, podman,
                                                                  monkeypatch) -> None:
    monkeypatch.setenv("CONTAINER_HOST", podman.host)
    handle = await executor(base).launch(Command.shell("cat; hostname >/dev/null; exit 4"))
    handle.stdin.write(b"through podman\n")
    handle.stdin.close()
    out, err, end = await collect(handle)
    assert (out, err, end) == (b"through podman\n", b"", Exit(code=4))
    assert handle.chain == "local → podman orch-test"


def test_socket_order(monkeypatch, tmp_path) -> None:
    """podman_host / docker_host, then CONTAINER_HOST, $XDG_RUNTIME_DIR's, the rootful one."""
    cfg = PodmanConfig(container="c")
    monkeypatch.delenv("CONTAINER_HOST", raising=False)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
    assert socket_address(cfg, 0).url == ROOTFUL == "unix:///run/podman/podman.sock"
    (tmp_path / "podman").mkdir()
    (tmp_path / "podman" / "podman.sock").touch()  # a stale file is not podman's socket
    assert socket_address(cfg, 0).url == ROOTFUL
    (tmp_path / "podman" / "podman.sock").unlink()
    with socket.socket(socket.AF_UNIX) as s:
        s.bind(str(tmp_path / "podman" / "podman.sock"))
        assert socket_address(cfg, 0).url == f"unix://{tmp_path}/podman/podman.sock"
        # kinds21: a relative one is ignored, as the XDG spec says (it became unix://xdg/…,
        # refused as "docker host", naming a path that was not there)
        monkeypatch.chdir(tmp_path.parent)
        monkeypatch.setenv("XDG_RUNTIME_DIR", tmp_path.name)
        assert socket_address(cfg, 0) == Socket(ROOTFUL, f"CONTAINER_HOST is unset and "
                                                f"XDG_RUNTIME_DIR ('{tmp_path.name}') is "
                                                f"ignored: not an absolute path")
        monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
    monkeypatch.setenv("CONTAINER_HOST", "unix:///run/x.sock")
    assert socket_address(cfg, 0).url == "unix:///run/x.sock"
    for key in ("podman_host", "docker_host"):
        given = PodmanConfig(container="c", **{key: "unix:///given.sock"})
        assert socket_address(given, 0) == socket_address(given, 2) == Socket("unix:///given.sock")
    # this machine's variables say nothing about a host behind ssh
    assert socket_address(cfg, 1).url == ROOTFUL


def test_config_errors_point_at_the_line() -> None:
    bad = ("environments:\n  it:\n    layers:\n      - {type: podman, config: "
           "{container: c, podman_host: 'ssh://h/x.sock'}}\n")
    with pytest.raises(ConfigError, match=r":4:.*unsupported podman host 'ssh://h/x.sock' "
                                          r"\(expected unix:///path/podman.sock"):
        load_config_text(bad)  # it said "docker host"
    with pytest.raises(ConfigError, match=r":4:.*unsupported podman host 'ssh://h/x.sock' "
                                          r"\(expected unix:///path/podman.sock"):
        load_config_text(bad.replace("podman_host", "docker_host"))  # so did docker_host
    both = bad.replace("'ssh://h/x.sock'", "unix:///a, docker_host: unix:///b")
    with pytest.raises(ConfigError, match="podman_host or docker_host, not both"):
        load_config_text(both)
    typo = bad.replace("podman_host: 'ssh://h/x.sock'", "podman_hots: unix:///a")
    with pytest.raises(ConfigError, match="did you mean 'podman_host'"):
        load_config_text(typo)


async def test_an_unusable_container_host_is_named(base, monkeypatch) -> None:
    """podman-remote's `ssh://…` in CONTAINER_HOST said 'unsupported docker host', without
    saying where the value came from; then advised an ssh layer, which alone reaches the
    rootful socket there, not the one named (held-out tester, podman finding 7)."""
    monkeypatch.setenv("CONTAINER_HOST", "ssh://core@host:2222/run/user/1000/podman/podman.sock")
    with pytest.raises(ConfigError) as err:
        await executor(base).launch(Command.of(["true"]))
    assert str(err.value) == (
        "CONTAINER_HOST: 'ssh://core@host:2222/run/user/1000/podman/podman.sock' is "
        "podman-remote's ssh:// form, which orch does not read: reach that host with a layer "
        "{type: ssh, config: {host: host, user: core, port: 2222}} before this one, and give this one "
        "podman_host: 'unix:///run/user/1000/podman/podman.sock'")
    monkeypatch.setenv("CONTAINER_HOST", "npipe:////./pipe/podman")
    with pytest.raises(ConfigError, match=r"^CONTAINER_HOST: unsupported podman host "):
        await executor(base).launch(Command.of(["true"]))
    # no port: docker's 2375 was tried and the error showed the address without it
    monkeypatch.setenv("CONTAINER_HOST", "tcp://127.0.0.1")
    with pytest.raises(ConfigError, match=r"^CONTAINER_HOST: podman host 'tcp://127.0.0.1' "
                                          r"needs a port: tcp://127.0.0.1:PORT, where "):
        await executor(base).launch(Command.of(["true"]))


async def test_service_not_running_says_podman(base, tmp_path) -> None:
    missing = tmp_path / "podman.sock"
    with pytest.raises(ConnectError) as err:
        await executor(base, podman_host=f"unix://{missing}").launch(Command.of(["true"]))
    text = str(err.value)
    assert text.startswith("hop 1 (podman orch-test): ") and str(missing) in text
    assert "no such socket" in text and "podman system service" in text
    assert "docker" not in text and "\n" not in text
    dead = tmp_path / "dead.sock"  # a socket nobody listens on
    with socket.socket(socket.AF_UNIX) as s:
        s.bind(str(dead))
        with pytest.raises(ConnectError, match="connection refused"):
            await executor(base, podman_host=f"unix://{dead}").launch(Command.of(["true"]))


@pytest.mark.parametrize("tty", [False, True])
async def test_a_user_not_in_the_container_is_said_as_docker_says_it(base, podman,
                                                                      tty: bool) -> None:
    """kinds18: podman refuses such an exec at its start, and that refusal was passed on in
    the engine's words ('unable to find user ghost: no matching entries in passwd file')."""
    with pytest.raises(LayerError) as err:
        await executor(base, podman_host=podman.host, user="ghost", tty=tty).launch(
            Command.of(["true"]))
    assert str(err.value) == ("hop 1 (podman orch-test): user 'ghost' does not exist in "
                              "container 'orch-test'")


async def test_container_not_found_suggests_a_running_one(base, podman) -> None:
    with pytest.raises(LayerError) as err:
        await executor(base, podman_host=podman.host, container="orch-tset").launch(
            Command.of(["true"]))
    assert "container 'orch-tset' not found" in str(err.value)
    assert "did you mean 'orch-test'?" in str(err.value) and err.value.hop == 1
    # a typo of a stopped one: the suggestion looked at running containers only (held-out
    # tester, podman finding 11)
    with pytest.raises(LayerError, match=r"container 'orch-stoped' not found .*\(did you mean "
                                         r"'orch-stopped'\?\)$"):
        await executor(base, podman_host=podman.host, container="orch-stoped").launch(
            Command.of(["true"]))


async def test_container_not_running(base, podman) -> None:
    with pytest.raises(LayerError, match=r"container 'orch-stopped' is not running"):
        await executor(base, podman_host=podman.host, container="orch-stopped").launch(
            Command.of(["true"]))


async def test_behind_ssh_the_socket_is_forwarded(base, podman, ssh_lab) -> None:
    text = ("environments:\n  it:\n    layers:\n"
            f"      - {ssh_lab.layer('orch-loop')}\n"
            f"      - {{type: podman, config: {{container: orch-test, "
            f"podman_host: '{podman.host}'}}}}\n")
    ex = LayeredExecutor(base, load_config_text(text).environments["it"].layers)
    handle = await ex.launch(Command.shell("echo in; echo err >&2"))
    handle.stdin.close()
    assert await collect(handle) == (b"in\n", b"err\n", Exit(code=0))
    assert handle.chain.endswith("ssh orch-loop → podman orch-test")


@pytest.mark.parametrize("kind", ["podman", "docker"])
@pytest.mark.parametrize("engine", ["given", "default"])
async def test_an_ssh_hop_that_fails_before_the_engine_is_named_in_its_own_words(  # type: ignore[no-untyped-def]
        base, ssh_lab, kind: str, engine: str) -> None:
    """Before, a podman layer (and a docker one whose socket came from a default) took the
    ssh hop's failure for its own: `hop 2 (podman orch-test): cannot reach orch-loop:1 …;
    podman serves its API with …`, sending the user to start a service."""
    where = f", {kind}_host: 'unix:///run/{kind}.sock'" if engine == "given" else ""
    text = ("environments:\n  it:\n    layers:\n"
            f"      - {ssh_lab.layer('orch-loop', port=1)}\n"
            f"      - {{type: {kind}, config: {{container: orch-test{where}}}}}\n")
    ex = LayeredExecutor(base, load_config_text(text).environments["it"].layers)
    with pytest.raises(ConnectError) as err:
        await ex.launch(Command.of(["true"]))
    said = str(err.value)
    assert said.startswith("hop 1 (ssh orch-loop): "), said
    assert "podman serves" not in said and kind not in said.split(": ", 1)[1], said


async def test_stopping_a_run_in_a_paused_container_ends(base, podman) -> None:
    """The container's process cannot be signalled while it is paused (podman, as dockerd,
    runs no exec in it): the stop waited for it for ever. It ends once the KILL is refused and
    says what is left, where, and how to stop it after unpause (tests/test_docker_paused.py)."""
    import asyncio
    import os

    from processes import processes_with

    name, nap = f"orch-paused-{os.getpid()}", f"sleep 77{os.getpid()}.5"
    podman.podman("run", "-d", "--init", "--network", "none", "--name", name, "orch-busybox")
    try:
        handle = await executor(base, podman_host=podman.host, container=name).launch(
            Command.shell(nap))
        handle.stdin.close()
        for _ in range(200):
            if processes_with(nap):
                break
            await asyncio.sleep(0.05)
        podman.podman("pause", name)
        end = await asyncio.wait_for(handle.stop((0.5, 0.5)), 60)
        assert end.error is not None and f"container {name!r} is paused" in str(end.error)
        assert "may still run" in str(end.error)
        assert f"(sooner: podman exec {name} kill -KILL -{handle.pid})" in str(end.error)
    finally:
        podman.podman("rm", "-f", "-t", "0", name)


async def test_a_container_stopped_while_stdin_streams_ends_the_run_killed(base, podman) -> None:
    """podman answers 500 "container state improper" (docker: 409) for an exec in a stopped
    container. The signal after the broken stream took it for a failure, and the run ended with
    "it may still be running as process group N" although the container took it with it
    (held-out tester, podman finding 1): it ends as without stdin in flight, killed."""
    import asyncio
    import os

    name = f"orch-stopfeed-{os.getpid()}"
    podman.podman("run", "-d", "--init", "--network", "none", "--name", name, "orch-busybox")
    try:
        handle = await executor(base, podman_host=podman.host, container=name).launch(
            Command.shell("cat >/dev/null"))

        async def feed() -> None:
            for _ in range(400):
                handle.stdin.write(b"z" * (1 << 20))
                await handle.stdin.drain()

        feeding = asyncio.ensure_future(feed())
        await asyncio.sleep(1.5)
        await asyncio.to_thread(podman.podman, "stop", "-t", "0", name)
        end = await asyncio.wait_for(handle.wait(), 60)
        feeding.cancel()
        assert end == Exit(signal=9)
    finally:
        podman.podman("rm", "-f", "-t", "0", name)


async def test_a_container_stopped_before_the_exec_is_not_running(base, podman,
                                                                  monkeypatch) -> None:
    """Stopped between the inspect and the exec: podman's 500 "container state improper" was
    shown raw ("the engine … answered 500 …"). The race is provoked by skipping the inspect."""
    from orch_magics.layers.docker_launcher import DockerLauncher

    stopped = podman.podman("inspect", "-f", "{{.Id}}", "orch-stopped").strip()

    async def looks_running(self, engine, container):  # type: ignore[no-untyped-def]
        return stopped, "orch-stopped"

    monkeypatch.setattr(DockerLauncher, "_named", looks_running)
    with pytest.raises(LayerError) as err:
        await executor(base, podman_host=podman.host).launch(Command.of(["true"]))
    assert str(err.value) == "hop 1 (podman orch-test): container 'orch-stopped' is not running"


@pytest.mark.timeout(300)
async def test_an_api_service_gone_mid_run_is_named_in_podmans_words(base) -> None:
    """The service stopped under a run: the error said "the docker engine … went away" (held-out
    tester, podman finding 12). What it says is true (conmon keeps the run), in podman's words."""
    import asyncio

    from fixtures.daemon import stop_group
    from fixtures.podman import started_podman

    with started_podman("orch-podgone-") as engine:
        handle = await executor(base, podman_host=engine.host).launch(
            Command.shell("echo started; sleep 300"))
        handle.stdin.close()
        events = handle.events()
        assert await asyncio.wait_for(events.__anext__(), 30) == Stdout(b"started\n")
        assert engine.service is not None
        await asyncio.to_thread(stop_group, engine.service, 5)
        end = await asyncio.wait_for(handle.wait(), 60)
    text = str(end.error)
    assert text.startswith("hop 1 (podman orch-test): the podman API on this machine went away "
                           "before reporting the exit status"), text
    assert "may still be running" in text and "docker" not in text


@pytest.mark.parametrize(("key", "value", "said"), [
    ("podman_host", "unix://run/podman/podman.sock",
     "podman host 'unix://run/podman/podman.sock': a socket's path is absolute "
     "(unix:///run/podman/podman.sock)"),
    ("workdir", "tmp", "the working directory 'tmp' in a container must be absolute (/tmp)"),
    ("workdir", "~/app", "the working directory '~/app' in a container must be absolute: the "
                         "engine starts the command there and expands no `~` (write the home's "
                         "path, such as /home/USER/app)")])  # kinds17: the hint was `(/~/app)`
def test_relative_paths_are_refused_at_their_line(key: str, value: str, said: str) -> None:
    """A relative socket was connected from orch's own directory, a relative workdir failed at
    run time with the runtime's two-line error (held-out tester, podman finding 9)."""
    text = ("environments:\n  it:\n    layers:\n"
            f"      - {{type: podman, config: {{container: c, {key}: '{value}'}}}}\n")
    with pytest.raises(ConfigError, match=r":4:") as err:
        load_config_text(text)
    assert said in str(err.value)


@pytest.mark.parametrize(("command", "said"), [
    (Command(("pwd",), cwd="relative"),
     "working directory 'relative' is not absolute: a command in a container starts from no "
     "directory it could be relative to"),
    (Command(("printf", "[%s]", "a\x00b")),
     "'a\\x00b' holds a NUL byte: no program can receive one in an argument or a variable")])
async def test_what_no_container_can_start_is_refused_in_one_line(base, podman, command,
                                                                 said) -> None:
    """The engine's own refusals were raw (two lines; "exec /bin/sh: invalid argument")."""
    with pytest.raises(LayerError) as err:
        await executor(base, podman_host=podman.host).launch(command)
    assert str(err.value) == f"hop 1 (podman orch-test): {said}"


@pytest.mark.parametrize("path", ["/etc/passwd", "/tmp"])
async def test_a_path_that_is_no_socket_is_named_so(base, monkeypatch, path: str) -> None:
    """connect() on a file or a directory is refused: it said "connection refused (the podman
    service not running?)", sending the user to restart a service (held-out tester, podman
    finding 5)."""
    monkeypatch.setenv("CONTAINER_HOST", f"unix://{path}")
    with pytest.raises(ConnectError) as err:
        await executor(base).launch(Command.of(["true"]))
    assert str(err.value).startswith(
        f"hop 1 (podman orch-test): cannot reach the podman API at unix://{path} on this "
        f"machine: {path} is not a socket (from CONTAINER_HOST); podman serves its API with ")


async def test_a_socket_not_found_says_where_orch_looked(base, monkeypatch, tmp_path) -> None:
    """Only the rootful socket was named, with rootful advice, though a rootless one was
    looked for first; nor was CONTAINER_HOST named (held-out tester, podman finding 6)."""
    monkeypatch.delenv("CONTAINER_HOST", raising=False)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
    with pytest.raises(ConnectError) as err:
        await executor(base).launch(Command.of(["true"]))
    assert str(err.value) == (
        "hop 1 (podman orch-test): cannot reach the podman API at unix:///run/podman/podman.sock "
        "on this machine: no such socket (is the podman service running there?) (CONTAINER_HOST "
        f"is unset and there is no socket at {tmp_path}/podman/podman.sock, where a rootless "
        "podman serves it); podman serves its API with `podman system service --time=0 "
        "unix:///PATH.sock` (or `systemctl enable --now podman.socket`; rootless: `systemctl "
        "--user enable --now podman.socket`)")
    (tmp_path / "podman" / "podman.sock").mkdir(parents=True)  # something, not a socket
    with pytest.raises(ConnectError, match=f"CONTAINER_HOST is unset and {tmp_path}/podman/"
                                           f"podman.sock is not a socket, where a rootless "):
        await executor(base).launch(Command.of(["true"]))
    monkeypatch.setenv("CONTAINER_HOST", "")  # kinds18: set but empty read "unset"
    with pytest.raises(ConnectError, match="CONTAINER_HOST is empty and "):
        await executor(base).launch(Command.of(["true"]))
    monkeypatch.setenv("CONTAINER_HOST", f"unix://{tmp_path}/gone.sock")
    with pytest.raises(ConnectError, match=r"no such socket \(is the podman service running "
                                           r"there\?\) \(from CONTAINER_HOST\); "):
        await executor(base).launch(Command.of(["true"]))


def test_orch_check_says_what_the_run_would_meet_at_container_host(tmp_path, podman) -> None:  # type: ignore[no-untyped-def]
    """`orch check` said "ok" whatever CONTAINER_HOST was, and every run of a podman first hop
    then failed (held-out tester). It does not connect, but what needs no connection it now
    says, in the run's words and with the run's exit status: CONTAINER_HOST unreadable (an
    ssh:// URL), no socket there, not a socket. A podman behind ssh is not this machine's."""
    import os
    import subprocess
    import sys

    from engine_cli import engine_cli

    cfg, orch = engine_cli(tmp_path, "podman", "pods", "CONTAINER_HOST", "orch-test")
    plain = tmp_path / "plain"
    plain.write_text("")

    for value in (f"unix://{tmp_path}/missing.sock", f"unix://{plain}",
                  "ssh://core@host/run/podman/podman.sock"):
        run, check = orch(value, "run", "pods", "--", "true"), orch(value, "check")
        said = run.stderr.removesuffix("\n")
        assert said.count("\n") == 0 and "CONTAINER_HOST" in said, said
        prefix = "orch: config error: " if "config error" in said else "orch: "
        assert check.stderr == said.replace(prefix, f"{prefix}{cfg}:4: environment 'pods': ",
                                            1) + "\n"
        assert check.returncode == run.returncode != 0
        assert not check.stdout.startswith("ok") and "pods " in check.stdout
    ok = orch(podman.host, "check")
    assert (ok.returncode, ok.stderr) == (0, "") and ok.stdout.startswith(f"ok: {cfg}\n")
    # Unset, with no socket where podman would serve one: this may not be the machine it runs
    # on, so the check does not judge it (a run here would say where it looked).
    unset = {k: v for k, v in os.environ.items() if k != "CONTAINER_HOST"}
    unset["XDG_RUNTIME_DIR"] = str(tmp_path)
    quiet = subprocess.run([sys.executable, "-m", "orch_magics.cli", "-c", str(cfg), "check"],
                           capture_output=True, text=True, timeout=60, env=unset)
    assert (quiet.returncode, quiet.stderr) == (0, ""), quiet.stderr


async def test_variables_never_reach_the_engines_records(base, podman) -> None:
    """An exec's environment is kept by the engine: podman wrote a `{{secret:…}}` value to
    its state database on disk, where it stayed after the run (held-out tester). Variables
    now go on the wrapper's stdin, as over ssh; they arrive byte for byte (not UTF-8 too).
    Under a TTY they still go in the Env (docs/docker.md): a terminal echoes what it reads."""
    value = "s7-podman-SENTINEL-\u00e9\udcff"
    command = Command(("sh", "-c", 'printf "<%s>" "$SECRET"'), env={"SECRET": value})
    handle = await executor(base, podman_host=podman.host).launch(command)
    out, err, end = await collect(handle)
    assert end == Exit(code=0) and out == b"<" + value.encode("utf-8", "surrogateescape") + b">"
    for path in podman.root.rglob("*"):
        if path.is_file() and not path.is_symlink():
            assert b"s7-podman-SENTINEL" not in path.read_bytes(), path
    tty = Command(("sh", "-c", 'printf "<%s>" "$SECRET"'), env={"SECRET": "on-a-tty"}, tty=True)
    out, err, end = await collect(await executor(base, podman_host=podman.host).launch(tty))
    assert end == Exit(code=0) and out == b"<on-a-tty>"


class _Relay:
    """A unix socket at `path`, owned by `uid`, relaying each connection to `target` (the
    test podman's socket): a rootless podman's socket as that user has it."""

    def __init__(self, path: Path, target: str, uid: int) -> None:
        self.server = socket.socket(socket.AF_UNIX)
        self.server.bind(str(path))
        os.chown(path, uid, -1)
        path.chmod(0o600)
        self.server.listen(16)
        self.target = target
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                near, _ = self.server.accept()
            except OSError:  # closed
                return
            far = socket.socket(socket.AF_UNIX)
            far.connect(self.target)
            for a, b in ((near, far), (far, near)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(a: socket.socket, b: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := a.recv(1 << 16):
                b.sendall(data)
            b.shutdown(socket.SHUT_WR)

    def close(self) -> None:
        self.server.close()


def test_behind_ssh_an_ordinary_users_rootless_socket_is_found(podman, ssh_lab, sudo_lab):  # type: ignore[no-untyped-def]
    """s8-places #3: behind an ssh hop logging in as an ordinary user, the layer tried only
    the rootful socket, though podman there serves that user at /run/user/UID/podman; the
    error even said `UID`. As podman itself does, that user's rootless socket comes first."""
    sudo_lab.authorize(ssh_lab.root / "id_ed25519.pub")
    uid = pwd.getpwnam(sudo_lab.login).pw_uid
    runtime = Path(f"/run/user/{uid}")
    made = not runtime.exists()
    (runtime / "podman").mkdir(parents=True, exist_ok=True)
    for folder in (runtime, runtime / "podman"):
        os.chown(folder, uid, -1)
        folder.chmod(0o700)
    relay = _Relay(runtime / "podman" / "podman.sock", podman.socket, uid)
    chatty = Path(tempfile.mkdtemp(prefix="orch-chatty-")) / "sh"  # a login that greets
    chatty.write_text('#!/bin/sh\necho Welcome to the inner host\nexec /bin/sh "$@"\n')
    for made_path in (chatty.parent, chatty):
        made_path.chmod(0o755)
    try:
        text = ("environments:\n  it:\n    layers:\n"
                f"      - {ssh_lab.layer('orch-loop', user=sudo_lab.login)}\n"
                "      - {type: podman, config: {container: orch-test}}\n"
                f"  there: [{ssh_lab.layer('orch-loop', user=sudo_lab.login)}]\n")
        with Orchestrator(load_config_text(text)) as orch:
            res = orch.run("it", command="cat /etc/hostname", timeout=60)
            assert res.ok, res.describe_failure()
            assert res.chain.endswith("ssh orch-loop → podman orch-test")
        # kinds16: a login that prints a line (a ~/.bashrc's greeting) made the look-up's
        # answer read as "no rootless socket", and root's podman was used instead
        subprocess.run(["usermod", "-s", str(chatty), sudo_lab.login], check=True)
        with Orchestrator(load_config_text(text)) as orch:  # a new login: the new shell
            assert orch.run("there", command="true").stdout == "Welcome to the inner host\n"
            again = orch.run("it", command="cat /etc/hostname", timeout=60)
        assert again.ok and again.stdout == res.stdout, again.describe_failure()
    finally:
        subprocess.run(["usermod", "-s", "/bin/sh", sudo_lab.login], check=True)
        shutil.rmtree(chatty.parent)
        relay.close()
        shutil.rmtree(runtime if made else runtime / "podman", ignore_errors=True)


async def test_an_api_service_on_loopback_tcp_is_reached(base, podman) -> None:
    """`podman system service tcp://…` on this machine: podman_host: tcp://host:port works as
    docker_host does (podman.md), with no unix socket involved."""
    port = free_port()
    service = subprocess.Popen(podman.argv("system", "service", "--time=0",
                                           f"tcp://127.0.0.1:{port}"), env=podman.env,
                               stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 30
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
                break
            assert service.poll() is None and time.monotonic() < deadline, "no tcp service"
            await asyncio.sleep(0.05)
        handle = await executor(base, podman_host=f"tcp://127.0.0.1:{port}").launch(
            Command.shell("cat; exit 3"))
        handle.stdin.write(b"over tcp\n")
        handle.stdin.close()
        assert await collect(handle) == (b"over tcp\n", b"", Exit(code=3))
    finally:
        stop_group(service, 10)


async def test_a_container_without_sh_names_the_podman_layer(base, podman) -> None:
    """A container with no /bin/sh cannot take the layer's signal wrapper: the refusal names the
    podman layer, not the docker one it is built on (held-out tester layers2)."""
    name = f"orch-nosh-{os.getpid()}"
    podman.podman("run", "-d", "--init", "--network", "none", "--name", name, "orch-busybox")
    try:
        podman.podman("exec", name, "rm", "/bin/sh")
        with pytest.raises(LayerError) as err:
            await executor(base, podman_host=podman.host, container=name).launch(
                Command(("echo", "hi")))
        assert f"container {name!r} has no /bin/sh: the podman layer starts" in str(err.value)
    finally:
        podman.podman("rm", "-f", "-t", "0", name)


async def test_a_container_removed_under_a_run_ends_it_as_sigkill(base, podman) -> None:
    """kinds17: podman forgets an exec with its container, so a `podman rm -f` under a run
    ended it (8 times in 12) as a failed run guessing at "a signal it cannot catch", where a
    stopped container's processes end as SIGKILL (137), as through docker."""
    for attempt in range(3):  # the race the finding saw 2 times in 3
        name = f"orch-gone-{os.getpid()}-{attempt}"
        podman.podman("run", "-d", "--init", "--network", "none", "--name", name,
                      "orch-busybox")
        handle = await executor(base, podman_host=podman.host, container=name).launch(
            Command.shell("echo up; cat"))
        events = handle.events()
        assert await read_line(events, 30) == b"up\n"
        podman.podman("rm", "-f", "-t", "0", name)
        rest = [event async for event in events]
        assert rest == [Exit(signal=signal.SIGKILL)], (attempt, rest)
