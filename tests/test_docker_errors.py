"""Each way the docker layer can fail has its own clear error, on the real engine."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import subprocess
import sys

import pytest

from engine_cli import engine_cli
from fixtures.dockerd import start_engine, stop_engine
from orch_magics import Command, Exit, LayeredExecutor, LocalLauncher, Stdout
from orch_magics.config.loader import layer_spec
from orch_magics.errors import ConnectError, LayerError, StreamError
from orch_magics.layers.docker import DockerConfig
from processes import left_after
from streams import collect

pytestmark = pytest.mark.docker


def executor(base: LocalLauncher, host: str, **config: object) -> LayeredExecutor:
    config.setdefault("container", "orch-test")
    return LayeredExecutor(base, [layer_spec("docker", DockerConfig(docker_host=host, **config))])


async def test_a_socket_path_holding_a_hash_or_a_question_mark_is_used_whole(
        base, dockerd, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """kinds18: a unix socket URL was read as a URL with a fragment or a query, so
    `unix:///tmp/k18#hash/podman.sock` was tried as /tmp/k18, 'no such socket'."""
    for odd in ("k#hash", "k?q"):
        folder = tmp_path / odd
        folder.mkdir()
        (folder / "docker.sock").symlink_to(dockerd.host.removeprefix("unix://"))
        handle = await executor(base, f"unix://{folder / 'docker.sock'}").launch(
            Command.of(["echo", "reached"]))
        out = b"".join([e.data async for e in handle.events() if isinstance(e, Stdout)])
        assert out == b"reached\n"


async def test_engine_unreachable_names_the_socket_and_the_hop(base, tmp_path) -> None:
    missing = tmp_path / "nothing.sock"
    with pytest.raises(ConnectError) as err:
        await executor(base, f"unix://{missing}").launch(Command.of(["true"]))
    assert str(err.value).startswith("hop 1 (docker orch-test): ")
    assert str(missing) in str(err.value) and "no such socket" in str(err.value)

    dead = tmp_path / "dead.sock"  # a socket file nobody listens on
    with socket.socket(socket.AF_UNIX) as s:
        s.bind(str(dead))
        with pytest.raises(ConnectError, match="connection refused") as err:
            await executor(base, f"unix://{dead}").launch(Command.of(["true"]))
    assert str(dead) in str(err.value)
    # a tcp:// address without its port: dockerd's 2375 is tried, and named
    with pytest.raises(ConnectError, match=r"at tcp://127\.0\.0\.1:2375 on this machine: "
                                           r"connection refused"):
        await executor(base, "tcp://127.0.0.1").launch(Command.of(["true"]))


async def test_a_hung_engine_is_said_to_be_hung(base, tmp_path) -> None:
    """s9-docker #8: an engine that takes the connection and never answers (a wedged dockerd:
    `docker ps` hangs) was reported as "the connection closed without an answer"."""
    mute = tmp_path / "mute.sock"
    with socket.socket(socket.AF_UNIX) as listener:
        listener.bind(str(mute))
        listener.listen(8)  # the kernel takes the connection; nobody reads or answers
        with pytest.raises(ConnectError) as err:
            await executor(base, f"unix://{mute}").launch(Command.of(["true"]))
    assert str(err.value) == (
        f"hop 1 (docker orch-test): cannot reach the docker engine at unix://{mute} on this "
        f"machine: it took the connection but did not answer within 10 s (is the engine hung? "
        f"its own client would hang there too)")


async def test_container_not_found_suggests_a_running_one(base, dockerd) -> None:
    with pytest.raises(LayerError) as err:
        await executor(base, dockerd.host, container="orch-tset").launch(Command.of(["true"]))
    assert "container 'orch-tset' not found" in str(err.value)
    assert "did you mean 'orch-test'?" in str(err.value) and err.value.hop == 1


async def test_container_not_running(base, dockerd) -> None:
    with pytest.raises(LayerError, match=r"container 'orch-stopped' is not running \(status: created\)"):
        await executor(base, dockerd.host, container="orch-stopped").launch(Command.of(["true"]))


async def test_no_container_with_label(base, dockerd) -> None:
    with pytest.raises(LayerError, match="no container with compose service 'db'"):
        await executor(base, dockerd.host, container=None, service="db").launch(Command.of(["true"]))
    # misspelt, the near name is suggested, as for a container (s9-docker #6)
    with pytest.raises(LayerError, match=r"\(did you mean service 'web'\?\)$"):
        await executor(base, dockerd.host, container=None, service="wbe").launch(
            Command.of(["true"]))
    with pytest.raises(LayerError, match=r"\(did you mean project 'orchproj'\?\)$"):
        await executor(base, dockerd.host, container=None, service="web",
                       project="orchprj").launch(Command.of(["true"]))


async def test_user_not_in_container(base, dockerd) -> None:
    with pytest.raises(LayerError, match="user 'ghost' does not exist in container 'orch-test'"):
        await executor(base, dockerd.host, user="ghost").launch(Command.of(["true"]))


async def test_workdir_not_in_container_is_a_failed_run_as_through_ssh(base, dockerd) -> None:
    handle = await executor(base, dockerd.host).launch(Command.of(["true"], cwd="/nowhere"))
    out, err, end = await collect(handle)
    assert (out, err, end) == (b"", b"orch: working directory not found: /nowhere\n", Exit(126))


async def test_a_workdir_the_user_may_not_enter_is_126_as_through_ssh(base, dockerd) -> None:
    """docs2 tester: the runtime enters the exec's WorkingDir as root before it becomes the
    user, so `user: app` ran in a directory app may not enter (`pwd` said it, exit 0). The
    directory is now entered by the wrapper, as the user, as over ssh."""
    top = f"/closed-{os.getpid()}"
    made = await collect(await executor(base, dockerd.host).launch(
        Command.of(["sh", "-c", f"mkdir -p {top}/in && chmod 700 {top}"])))
    assert made[2] == Exit(0)
    app = executor(base, dockerd.host, user="app")
    for cwd in (top, f"{top}/in"):
        out, err, end = await collect(await app.launch(Command.of(["pwd"], cwd=cwd)))
        assert (out, err, end) == (b"", f"orch: cannot enter working directory {cwd} as app: "
                                        f"permission denied\n".encode(), Exit(126))
    out, err, end = await collect(await app.launch(Command.of(["pwd"], cwd="/tmp")))
    assert (out, end) == (b"/tmp\n", Exit(0))


async def test_an_argument_too_long_for_the_container_is_said_so(base, dockerd) -> None:
    """The engine said "exec /bin/sh: argument list too long": it was taken for a container
    without /bin/sh. The limit is now said before the exec is created, as over ssh."""
    with pytest.raises(LayerError) as err:
        await executor(base, dockerd.host).launch(Command.of(["echo", "a" * 200_000]))
    assert str(err.value) == ("hop 1 (docker orch-test): the command is too long for container "
                              "'orch-test' (one argument or variable is 200,000 bytes; at most "
                              "131,071 fit): pass large data on stdin or in a file")


@pytest.mark.parametrize("tty", [False, True], ids=["pipes", "tty"])
async def test_a_command_no_execve_could_take_is_said_so_before_it_is_sent(base, dockerd,
                                                                          tty: bool) -> None:
    """5 MB of variables: once they passed the engine's 4 MiB message limit ("the engine could
    not start the command in 'orch-test': message length 5000008 exceed maximum message
    size …"); on stdin, the wrapper's exec said "Argument list too long". Refused first, in
    the ssh layer's words."""
    with pytest.raises(LayerError) as err:
        await executor(base, dockerd.host).launch(
            Command.of(["true"], env={"BIG": "a" * 5_000_000}, tty=tty))
    assert str(err.value) == (
        "hop 1 (docker orch-test): the command is too long for container 'orch-test' (one "
        "argument or variable is 5,000,004 bytes; at most 131,071 fit): pass large data on "
        "stdin or in a file")


def test_permission_denied_on_the_socket(tmp_path) -> None:
    """A socket the user may not open (mode 000, and no CAP_DAC_OVERRIDE to bypass it)."""
    sock_path = tmp_path / "docker.sock"
    script = (
        "import asyncio\n"
        "from orch_magics import Command, LayeredExecutor, LocalLauncher\n"
        "from orch_magics.config.loader import layer_spec\n"
        "from orch_magics.layers.docker import DockerConfig\n"
        "from orch_magics.errors import AuthError\n"
        f"cfg = DockerConfig(container='orch-test', docker_host='unix://{sock_path}')\n"
        "async def main():\n"
        "    try:\n"
        "        await LayeredExecutor(LocalLauncher(), [layer_spec('docker', cfg)]).launch(Command.of(['true']))\n"
        "    except AuthError as exc:\n"
        "        print(type(exc).__name__, exc)\n"
        "asyncio.run(main())\n"
    )
    with socket.socket(socket.AF_UNIX) as listener:
        listener.bind(str(sock_path))
        listener.listen()
        sock_path.chmod(0)
        # root without capabilities is held to the file mode like any other user
        proc = subprocess.run(["setpriv", "--bounding-set=-all", "--", sys.executable, "-c", script],
                              capture_output=True, text=True, timeout=60)
    assert proc.stdout.startswith("AuthError hop 1 (docker orch-test): permission denied on "), (
        proc.stdout + proc.stderr)
    assert str(sock_path) in proc.stdout and "docker socket" in proc.stdout


async def _corrupting_proxy(upstream: str, path: str) -> asyncio.AbstractServer:
    """Forwards to the engine; in a hijacked exec stream, injects a bad frame after `first`."""

    async def handle(cr: asyncio.StreamReader, cw: asyncio.StreamWriter) -> None:
        ur, uw = await asyncio.open_unix_connection(upstream)

        async def up() -> None:
            while data := await cr.read(65536):
                uw.write(data)
                await uw.drain()
            if uw.can_write_eof():
                uw.write_eof()

        async def down() -> None:
            head = b""
            while data := await ur.read(65536):
                head += data[:200]
                cw.write(data)
                if b"101 UPGRADED" in head and b"first" in data:
                    cw.write(b"\x07\x00\x00\x00\x00\x00\x00\x05bogus")
                await cw.drain()
            cw.close()

        try:
            await asyncio.gather(up(), down())
        except (OSError, asyncio.CancelledError):
            pass
        finally:
            uw.close()
            cw.close()

    return await asyncio.start_unix_server(handle, path)


async def test_bad_frame_ends_the_run_keeping_the_output(base, dockerd, tmp_path) -> None:
    proxy_path = str(tmp_path / "proxy.sock")
    server = await _corrupting_proxy(dockerd.socket, proxy_path)
    try:
        handle = await executor(base, f"unix://{proxy_path}").launch(
            Command.of("sleep 0.2; echo first; sleep 300; echo second"))
        out = bytearray()
        async for event in handle.events():
            if isinstance(event, Stdout):
                out += event.data
            elif isinstance(event, Exit):
                end = event
        assert out == b"first\n"
        assert isinstance(end.error, StreamError) and "bad frame header" in str(end.error)
        assert not await asyncio.to_thread(left_after, lambda: [
            p for p in dockerd.container_processes("orch-test") if "sleep 300" in p])
    finally:
        server.close()


@pytest.mark.parametrize("how", [signal.SIGKILL, signal.SIGTERM])
async def test_engine_killed_mid_run_keeps_the_output(base, how: int) -> None:
    """Stopped with SIGTERM, dockerd also removes its socket: the reason was said as
    requests' nested repr, `('Connection aborted.', FileNotFoundError(2, '…'))`."""
    engine = await asyncio.to_thread(start_engine, "orch-dockerd-kill-")
    try:
        handle = await executor(base, engine.host).launch(Command.of("echo before; sleep 300"))
        events = handle.events()
        assert await asyncio.wait_for(events.__anext__(), 10) == Stdout(b"before\n")
        os.kill(engine.proc.pid, how)
        end = await asyncio.wait_for(events.__anext__(), 30)
        assert isinstance(end, Exit) and isinstance(end.error, StreamError)
        said = str(end.error)
        assert re.match(r"hop 1 \(docker orch-test\): the docker engine on this machine went "
                        r"away before reporting the exit status \(Connection aborted: [A-Z]"
                        r"[a-z ]+\); ", said), said
        assert "Error(" not in said and "('" not in said, said
        assert said.count("hop 1 (docker orch-test)") == 1, said  # not again in the reason
        # the engine cannot be reached again: the error says what is left, and where
        assert f"may still be running as process group {handle.pid} in container " \
               f"'orch-test' on this machine (reconnecting failed:" in str(end.error)
        assert "\n" not in str(end.error)
        assert handle.exit == end
    finally:
        await asyncio.to_thread(stop_engine, engine)


def test_docker_host_is_named_in_errors_and_judged_by_check(tmp_path) -> None:
    """An engine found through DOCKER_HOST was not said to come from there, the docker CLI's
    `ssh://` form got "unsupported docker host", and `orch check` said "ok" whatever
    DOCKER_HOST held while every run of a docker first hop failed (podman's CONTAINER_HOST
    had all three). A run and `orch check` now say the same, with the same exit status."""
    cfg, orch = engine_cli(tmp_path, "docker", "dev", "DOCKER_HOST", "app")
    plain = tmp_path / "plain"
    plain.write_text("")

    cases = {f"unix://{tmp_path}/missing.sock": (1, "no such socket (is dockerd running there?) "
                                                    "(from DOCKER_HOST)"),
             str(plain): (1, f"{plain} is not a socket (from DOCKER_HOST)"),
             # kinds12: a path through a file (or a socket's with a trailing '/') was "ok",
             # then a bare "[Errno 20] Not a directory"
             f"unix://{plain}/x.sock": (1, f"{plain}/x.sock is not a socket: what comes before "
                                           f"its last '/' is no folder (from DOCKER_HOST)"),
             "ssh://me@box:2200": (2, "DOCKER_HOST: 'ssh://me@box:2200' is the docker CLI's "
                                      "ssh:// form, which orch does not read: reach that host "
                                      "with a layer {type: ssh, config: {host: box, user: me, "
                                      "port: 2200}} before this one"),
             "ssh://me@box/run/user/7/docker.sock": (2, "and give this one docker_host: "
                                                        "'unix:///run/user/7/docker.sock'")}
    for value, (status, words) in cases.items():
        run, check = orch(value, "run", "dev", "--", "true"), orch(value, "check")
        said = run.stderr.removesuffix("\n")
        assert run.returncode == status and said.count("\n") == 0 and words in said, said
        prefix = "orch: config error: " if status == 2 else "orch: "
        assert check.stderr == said.replace(prefix, f"{prefix}{cfg}:4: environment 'dev': ",
                                            1) + "\n"
        assert check.returncode == status and not check.stdout.startswith("ok")
    with socket.socket(socket.AF_UNIX) as s:  # a socket is there: only a run can tell more
        s.bind(str(tmp_path / "there.sock"))
        ok = orch(f"unix://{tmp_path}/there.sock", "check")
    assert (ok.returncode, ok.stderr) == (0, "") and ok.stdout.startswith(f"ok: {cfg}\n")


def test_picking_a_compose_replica_copes_with_labels_made_by_hand() -> None:
    """review-s9: a `container-number` that is not a number escaped as a ValueError, and a
    replica without a project label showed an empty name."""
    from orch_magics.layers.docker_pick import Unpicked, pick

    def made(name: str, **extra: str) -> dict[str, object]:
        return {"Id": name, "Names": [f"/{name}"], "State": "running",
                "Labels": {"com.docker.compose.service": "web", **extra}}

    replicas = [made("b", **{"com.docker.compose.container-number": "x"}),
                made("a", **{"com.docker.compose.container-number": "2"})]
    assert pick(replicas, "compose service 'web'", "here", compose=True,
                project=None)["Id"] == "b"  # 0 (not a number) sorts first
    with pytest.raises(Unpicked, match=r"in 2 compose projects on the engine on here "
                                       r"\(\(none\), prod\)"):
        pick([made("a"), made("b", **{"com.docker.compose.project": "prod"})],
             "compose service 'web'", "here", compose=True, project=None)


def test_an_engine_that_stops_answering_a_pooled_session_is_said_to_be_hung() -> None:
    """s9-regress #7: an engine that hung after a session had connected was reported, 60 s
    later, as "lost the docker engine: … Read timed out". A hung engine is only slow to
    provoke for real (docker-py's 60 s limit): its exception is raised here."""
    import requests

    from orch_magics.layers.docker_engine import map_docker_errors

    with pytest.raises(LayerError) as err:
        with map_docker_errors("creating an exec in 'app'", hop=2, layer="docker app",
                               where="ssh bastion"):
            raise requests.exceptions.ReadTimeout("Read timed out. (read timeout=60)")
    assert str(err.value) == (
        "hop 2 (docker app): creating an exec in 'app': the docker engine on ssh bastion took "
        "the request but did not answer within its time limit (is the engine hung? its own "
        "client would hang there too)")
    assert not isinstance(err.value, ConnectError)
