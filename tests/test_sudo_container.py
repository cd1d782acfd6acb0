"""The sudo layer inside a container that has sudo: `[ssh → ssh →] docker (user: LOGIN) → sudo`.

The container is the sudo_image fixture's `orch-sudo` (FROM scratch, this machine's sudo and
PAM, a password rule and a NOPASSWD rule for an unprivileged login user). Behind ssh, the
lab's sshd servers share this machine's file system, so the test engine's socket is the
remote host's docker socket (as in test_docker_ssh.py).
"""

from __future__ import annotations

import asyncio
import io
import json
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import docker
import pytest

from fixtures.sudo_image import IMAGE, SudoImage
from orch_magics.config.loader import load_config_text
from orch_magics.errors import AuthError, LayerError
from orch_magics.executor import LayeredExecutor
from orch_magics.plan import resolve_layers
from orch_magics.process.command import Command
from orch_magics.process.events import Exit
from orch_magics.secrets.placeholders import Resolver
from streams import collect

pytestmark = [pytest.mark.docker]


@dataclass
class Place:
    """A running orch-sudo container: the engine's API, how to reach it, what leads there."""

    kind: str  # the layer kind: docker or podman
    host: str  # its API socket
    api: docker.APIClient
    image: SudoImage
    lab: Any | None = None  # the ssh lab, when ssh hops lead to the engine
    hops: list[str] = field(default_factory=list)

    def executor(self, base: Any, last: str, container: str | None = None,
                 **extra: object) -> LayeredExecutor:
        """[ssh hops →] KIND (user: the login user, `extra` keys) → `last` (a sudo layer)."""
        config = {"container": container or self.image.container, "user": self.image.login,
                  f"{self.kind}_host": self.host, **extra}
        layers = [*self.hops, f"{{type: {self.kind}, config: {json.dumps(config)}}}", last]
        if self.lab is not None:
            text = self.lab.config_yaml(extra_envs={"it": layers})
        else:
            text = "environments:\n  it:\n    layers:" + ("".join(f"\n      - {x}" for x in layers) or " []") + "\n"
        environment = load_config_text(text).environments["it"]
        return LayeredExecutor(base, resolve_layers(environment, Resolver()))

    def root_exec(self, script: str, container: str | None = None) -> str:
        """Run `script` as root in the container (an engine exec, not through orch)."""
        created = self.api.exec_create(container or self.image.container, ["sh", "-c", script],
                                       user="root")
        return str(self.api.exec_start(created["Id"]).decode())

    def processes(self) -> list[str]:
        """`ps` lines in the container, minus the ps itself and pid 1's init."""
        out = self.root_exec("ps -o pid,stat,args")
        return [line for line in out.splitlines()[1:]
                if " ps -o" not in line and line.split()[0] != "1"]


@pytest.fixture(params=["docker", "ssh-ssh-docker", "podman"])
def place(request: pytest.FixtureRequest, sudo_container: SudoImage) -> Iterator[Place]:
    """orch-sudo on the test dockerd (directly or behind two ssh hops) or on podman."""
    if request.param == "podman":
        engine = request.getfixturevalue("podman")
        image = request.getfixturevalue("podman_sudo_container")
        api = docker.APIClient(base_url=engine.host, version="1.41", timeout=60)
        yield Place("podman", engine.host, api, image)
        api.close()
        return
    dockerd = request.getfixturevalue("dockerd")
    if request.param == "docker":
        yield Place("docker", dockerd.host, dockerd.api, sudo_container)
        return
    lab = request.getfixturevalue("ssh_lab")
    yield Place("docker", dockerd.host, dockerd.api, sudo_container, lab,
                [lab.layer("orch-bastion"), lab.layer("orch-inner")])


async def run(ex: LayeredExecutor, command: Command, stdin: bytes = b"") -> tuple[bytes, bytes, Exit]:
    handle = await ex.launch(command)
    handle.stdin.write(stdin)
    handle.stdin.close()
    return await asyncio.wait_for(collect(handle), 60)


def test_the_image_holds_a_working_setuid_sudo(place) -> None:
    out = place.root_exec("stat -c '%a %U %n' /usr/bin/sudo /etc/sudoers; id -u orchlogin")
    assert out.split("\n")[:3] == ["4755 root /usr/bin/sudo", "440 root /etc/sudoers", "1000"]


async def test_password_rule(base, place, monkeypatch) -> None:
    image = place.image
    monkeypatch.setenv("ORCH_SECRET_SUDO_PW", image.password)
    ex = place.executor(base, image.layer(image.target, password=True))
    out, err, end = await run(ex, Command.shell("id -un; cat; exit 3"), b"fed on stdin\n")
    assert (out.decode(), err, end) == (f"{image.target}\nfed on stdin\n", b"", Exit(code=3))


async def test_nopasswd_rule(base, place) -> None:
    image = place.image
    ex = place.executor(base, image.layer(image.free))
    out, err, end = await run(ex, Command(("sh", "-c", 'id -un; echo "$X" >&2', "sh"),
                                          env={"X": "after sudo"}))
    assert (out.decode(), err, end) == (f"{image.free}\n", b"after sudo\n", Exit(code=0))


async def test_a_missing_workdir_of_the_container_layer_is_said_as_its_own(base, place) -> None:
    """The container layer's `workdir:` that does not exist read "sudo failed (exit 126):
    orch: working directory not found …", as if sudo had failed (tester layers3)."""
    image = place.image
    ex = place.executor(base, image.layer(image.free), workdir="/no/such dir")
    with pytest.raises(LayerError) as err:
        await ex.launch(Command.shell("true"))
    text = str(err.value)
    assert ("sudo was not started: the layer before it could not use its working directory "
            "(working directory not found: /no/such dir): check that layer's workdir") in text
    assert "sudo failed" not in text and "\n" not in text, text


@pytest.mark.parametrize("password", [False, True])
async def test_a_container_layer_with_tty_true(base, place, monkeypatch, password) -> None:
    """`tty: true` on the docker/podman layer gives every exec a terminal, the sudo one too:
    sudo's prompt and the handshake came on its one stream while it watched stderr, and every
    run failed after the timeout ("sudo did not start the command")."""
    image = place.image
    monkeypatch.setenv("ORCH_SECRET_SUDO_PW", image.password)
    user = image.target if password else image.free
    ex = place.executor(base, image.layer(user, password=password), tty=True)
    handle = await asyncio.wait_for(ex.launch(Command(
        ("sh", "-c", 'test -t 0 && echo "tty $X"; read line; echo "got $line"; exit 4', "sh"),
        env={"X": "set"})), 10)
    handle.stdin.write(b"typed\n")
    out, err, end = await asyncio.wait_for(collect(handle), 60)
    lines = out.decode().replace("\r", "").splitlines()
    # one stream (a terminal, which echoes what was typed), no password in it
    assert (err, end, lines[-1]) == (b"", Exit(code=4), "got typed") and "tty set" in lines
    assert image.password not in out.decode()


async def test_wrong_password_is_a_clear_error(base, place, monkeypatch) -> None:
    image = place.image
    monkeypatch.setenv("ORCH_SECRET_SUDO_PW", "not-the-password")
    ex = place.executor(base, image.layer(image.target, password=True))
    with pytest.raises(AuthError) as err:
        await asyncio.wait_for(ex.launch(Command.shell("id")), 60)  # a hang fails here
    text = str(err.value)
    assert "did not accept the password" in text and f"sudo {image.target}" in text
    assert "\n" not in text and "not-the-password" not in text
    await _nothing_left(place, "sudo -S")


async def test_refused_user_is_a_clear_error(base, place, monkeypatch) -> None:
    image = place.image
    monkeypatch.setenv("ORCH_SECRET_SUDO_PW", image.password)
    ex = place.executor(base, image.layer("root", password=True))
    with pytest.raises(AuthError) as err:
        await asyncio.wait_for(ex.launch(Command.shell("id")), 60)
    text = str(err.value)
    assert "sudo refused" in text and "-c …' as root" in text
    assert "the sudoers rule must allow a shell" in text and "\n" not in text


async def test_interrupt_leaves_no_process_in_the_container(base, place, monkeypatch) -> None:
    image = place.image
    monkeypatch.setenv("ORCH_SECRET_SUDO_PW", image.password)
    ex = place.executor(base, image.layer(image.target, password=True))
    a, b = "913.713", "914.714"
    handle = await ex.launch(Command.shell(f"trap '' INT; sleep {a} & sleep {b}; echo never"))
    for _ in range(100):
        running = [p for p in place.processes()
                   if p.split(None, 2)[2].startswith("sleep 91")]
        if len(running) == 2:
            break
        await asyncio.sleep(0.05)
    assert len(running) == 2, running
    end = await asyncio.wait_for(handle.stop((0.5, 0.5)), 30)
    assert end.signal is not None, end
    await _nothing_left(place, "sleep 91", "orch-sudo-prompt-")  # sudo's argv


async def _nothing_left(place: Place, *needles: str) -> None:
    """Wait (bounded) until no process in the container names any of `needles`; assert it."""
    for _ in range(50):
        left = [p for p in place.processes() if any(n in p for n in needles)]
        if not left:
            return
        await asyncio.sleep(0.1)
    assert left == []


WATCH = """rm -f /tmp/orch-hits /tmp/orch-stop; n=0
while [ ! -e /tmp/orch-stop ]; do
  for f in /proc/[0-9]*/cmdline /proc/[0-9]*/environ; do
    tr '\\0' '\\n' <"$f" >/tmp/orch-cur 2>/dev/null || continue  # read once: it may exit
    grep -q -F -f /tmp/orch-needle /tmp/orch-cur || continue
    case $f in */cmdline) echo "$f $(tr '\\n' ' ' </tmp/orch-cur)";;
      *) echo "$f $(tr '\\0' ' ' <"${f%/*}/cmdline")";; esac >>/tmp/orch-hits
  done
  n=$((n+1)); echo $n >/tmp/orch-scans.new && mv /tmp/orch-scans.new /tmp/orch-scans  # whole
done"""


def put_file(place: Place, name: str, data: bytes) -> None:
    """Put a file into the container's /tmp through the archive API (no process sees it)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo(name)
        info.size, info.mode = len(data), 0o600
        tar.addfile(info, io.BytesIO(data))
    assert place.api.put_archive(place.image.container, "/tmp", buf.getvalue())


async def test_password_never_in_the_container_s_argv_env_or_output(
        base, place, monkeypatch) -> None:
    """A root watcher in the container greps every /proc/*/cmdline and environ while runs go on."""
    image = place.image
    monkeypatch.setenv("ORCH_SECRET_SUDO_PW", image.password)
    put_file(place, "orch-needle", image.password.encode())
    watcher = place.api.exec_create(image.container, ["sh", "-c", WATCH], user="root")
    place.api.exec_start(watcher["Id"], detach=True)
    # the control: a process with the needle on its argv, which the watcher must report
    control = place.api.exec_create(image.container, [
        "sh", "-c", "until [ -e /tmp/orch-stop ]; do sleep 0.1; done; : orch-control",
        "sh", image.password])
    place.api.exec_start(control["Id"], detach=True)
    seen = []
    try:
        for _ in range(300):  # the watcher works (it saw the control) before the runs start
            before = place.root_exec("cat /tmp/orch-scans 2>/dev/null || echo 0;"
                                     " cat /tmp/orch-hits 2>/dev/null")
            if "orch-control" in before:
                break
            await asyncio.sleep(0.1)
        ex = place.executor(base, image.layer(image.target, password=True))
        for _ in range(3):
            out, err, end = await run(ex, Command.shell("id -un; sleep 0.5; echo done"))
            assert (out.decode(), end) == (f"{image.target}\ndone\n", Exit(code=0))
            seen += [out, err]
        handle = await ex.launch(Command.shell("sleep 30"))
        await asyncio.sleep(0.5)
        await asyncio.wait_for(handle.stop((0.5, 0.5)), 30)  # signals go through sudo too
    finally:
        report = place.root_exec("touch /tmp/orch-stop; sleep 0.3; cat /tmp/orch-scans;"
                                 " cat /tmp/orch-hits 2>/dev/null; rm -f /tmp/orch-needle /tmp/orch-cur")
    scans, *hits = report.splitlines()
    assert "orch-control" in before and any("orch-control" in hit for hit in hits), hits
    assert int(scans) > int(before.split()[0]) + 1  # it kept scanning while the runs went on
    assert [hit for hit in hits if "orch-control" not in hit] == []
    assert all(image.password.encode() not in chunk for chunk in seen)


@pytest.mark.parametrize(("security_opt", "fix", "cause"), [
    (["no-new-privileges"], "true", r'the "no new privileges" flag is set'),
    ([], "chmod u-s /usr/bin/sudo", "sudo is not setuid root or its file system is mounted nosuid"),
])
async def test_sudo_without_root_rights_is_a_clear_error(base, dockerd, sudo_container,
                                                         security_opt, fix, cause) -> None:
    """A container whose sudo cannot become root (no-new-privileges, no setuid bit): one line."""
    image = sudo_container
    place = Place("docker", dockerd.host, dockerd.api, image)
    host_config = dockerd.api.create_host_config(init=True, network_mode="none",
                                                 security_opt=security_opt)
    created = dockerd.api.create_container(IMAGE, name="orch-sudo-weak", host_config=host_config)
    dockerd.api.start(created["Id"])
    try:
        place.root_exec(fix, container="orch-sudo-weak")
        ex = place.executor(base, image.layer(image.free), container="orch-sudo-weak")
        with pytest.raises(LayerError) as err:
            await asyncio.wait_for(ex.launch(Command.shell("id")), 60)
        text = str(err.value)
        assert text.startswith(f"hop 2 (sudo {image.free}): sudo cannot change user there: "
                               f"{cause}")
        assert "\n" not in text
    finally:
        dockerd.api.remove_container(created["Id"], force=True)
