"""An sshd that refuses forwarding (`AllowTcpForwarding no`, `AllowStreamLocalForwarding no`):
the hop behind it and the docker engine behind it say so and name the sshd setting. A TCP
channel is refused with code 1, "administratively prohibited"; OpenSSH refuses a unix-socket
channel with code 2, "open failed", as for a missing socket: then the socket is checked."""

from __future__ import annotations

import shutil
import socket
import tempfile
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from fixtures.ports import free_port
from fixtures.sshd import SSHServer, known_host, launch_sshd, stop_servers
from orch_magics import Orchestrator, load_config_text
from orch_magics.errors import AuthError, ConnectError, LayerError

pytestmark = pytest.mark.ssh


@pytest.fixture(scope="module")
def no_forwarding(ssh_lab, tmp_path_factory) -> Iterator[tuple[SSHServer, str]]:  # type: ignore[no-untyped-def]
    """The lab's loopback server once more, with forwarding off, and a known_hosts for both."""
    root = tmp_path_factory.mktemp("nofwd")
    config = ssh_lab.sshd_config
    config = replace(config, extra=tuple(line.replace(" yes", " no") if "Forwarding" in line
                                         else line for line in config.extra))
    server = launch_sshd(root, "nofwd", "127.0.0.1", free_port(), config)
    try:
        server.wait_listening(time.monotonic() + 10)
        known = root / "known_hosts"
        known.write_text(ssh_lab.known_hosts.read_text()
                         + known_host("127.0.0.1", server.port, ssh_lab.root / "host_key.pub"))
        yield server, str(known)
    finally:
        stop_servers([server])


def layer(ssh_lab, server: SSHServer, known: str) -> str:  # type: ignore[no-untyped-def]
    return ssh_lab.layer("orch-loop", port=server.port, known_hosts=known)


def test_a_hop_behind_a_server_refusing_tcp_forwarding_names_the_setting(
        ssh_lab, no_forwarding: tuple[SSHServer, str]) -> None:  # type: ignore[no-untyped-def]
    """Before: "ssh orch-loop could not open a connection to orch-loop: open failed"."""
    server, known = no_forwarding
    message = _refused(ssh_lab.config_yaml(extra_envs={"t": [
        layer(ssh_lab, server, known), ssh_lab.layer("orch-loop", known_hosts=known)]}))
    assert message.startswith("hop 2 (ssh orch-loop): "), message
    assert "administratively prohibited" in message, message
    assert "`AllowTcpForwarding yes`" in message and "\n" not in message


@pytest.mark.docker
def test_docker_behind_a_server_refusing_socket_forwarding_names_the_setting(
        ssh_lab, dockerd, no_forwarding: tuple[SSHServer, str]) -> None:  # type: ignore[no-untyped-def]
    """Before: "cannot reach the docker engine … the connection closed without an answer (the
    socket may be missing there, or the remote user may lack permission to open it)"."""
    server, known = no_forwarding
    message = _refused(ssh_lab.config_yaml(extra_envs={"t": [layer(ssh_lab, server, known),
                                                              dockerd.layer()]}))
    assert message.startswith("hop 2 (docker orch-test): cannot reach the docker engine"), message
    assert "its sshd refuses forwarding" in message, message
    assert "`AllowStreamLocalForwarding yes`" in message and "\n" not in message
    assert "socket may be missing" not in message and "permission" not in message


@pytest.mark.docker
def test_docker_behind_ssh_with_a_missing_socket_is_not_blamed_on_sshd(ssh_lab, dockerd,  # type: ignore[no-untyped-def]
                                                                      tmp_path) -> None:
    """The other cause of the same code-2 refusal: the socket is not there."""
    missing = tmp_path / "no-docker.sock"
    text = ssh_lab.config_yaml(extra_envs={"t": [ssh_lab.layer("orch-loop"), dockerd.layer(
        docker_host=f"unix://{missing}")]})
    orch = Orchestrator(load_config_text(text))
    try:
        with pytest.raises(ConnectError) as info:
            orch.run("t", command="true", timeout=60)
    finally:
        orch.close()
    message = str(info.value)
    assert message.startswith("hop 2 (docker orch-test): cannot reach the docker engine"), message
    assert f"{missing}" in message and "there is no such socket there" in message, message
    assert "refuses forwarding" not in message and "\n" not in message


@pytest.mark.docker
def test_docker_behind_ssh_with_an_engine_that_died_is_not_blamed_on_sshd(ssh_lab, dockerd,  # type: ignore[no-untyped-def]
                                                                         tmp_path) -> None:
    """s9-docker #3: a killed or crashed dockerd leaves its socket file, which nothing listens
    on; behind ssh the same code-2 refusal said only that sshd needs forwarding turned on,
    which would not help (on this machine the run said "dockerd not running?")."""
    import socket

    stale = tmp_path / "dead-docker.sock"
    with socket.socket(socket.AF_UNIX) as bound:  # bound, then closed: as a dead engine's
        bound.bind(str(stale))
    text = ssh_lab.config_yaml(extra_envs={"t": [ssh_lab.layer("orch-loop"), dockerd.layer(
        docker_host=f"unix://{stale}")]})
    message = _refused(text)
    assert message.startswith("hop 2 (docker orch-test): cannot reach the docker engine"), message
    assert "nothing listens on that socket there (is the engine running?" in message, message
    assert "\n" not in message


def _refused(config_text: str) -> str:
    """The one-line ConnectError of a run of `true` in environment `t`."""
    orch = Orchestrator(load_config_text(config_text))
    try:
        with pytest.raises(ConnectError) as info:
            orch.run("t", command="true", timeout=60)
    finally:
        orch.close()
    return str(info.value)


@pytest.mark.parametrize("kind", ["docker", "podman"])
def test_a_socket_the_login_user_may_not_reach_is_not_called_missing(ssh_lab, sudo_lab, kind):  # type: ignore[no-untyped-def]
    """ssh as a user who is not root, then an engine socket: one in a folder closed to that
    user (0700 root; another user's /run/user/UID) was "there is no such socket there" (with,
    for podman, advice to start its service). Each cause is said in its words, and only a
    socket that truly is not there is called missing."""
    sudo_lab.authorize(ssh_lab.root / "id_ed25519.pub")
    top = Path(tempfile.mkdtemp(prefix="orch-sock-"))
    top.chmod(0o755)
    (top / "closed").mkdir(mode=0o700)
    (top / "file").write_text("")
    socks = [socket.socket(socket.AF_UNIX) for _ in range(2)]
    try:
        for sock, path in zip(socks, (top / "closed" / "engine.sock", top / "denied.sock"), strict=True):
            sock.bind(str(path))
            path.chmod(0o600)
        cases = {"closed": (top / "closed" / "engine.sock", AuthError,
                            f"the remote user may not reach that socket (cannot look into "
                            f"{top}/closed as {sudo_lab.login}: permission denied)"),
                 "denied": (top / "denied.sock", AuthError,
                            "the remote user may not open that socket (no write permission)"),
                 "file": (top / "file", ConnectError, "it is not a socket"),
                 "missing": (top / "missing.sock", ConnectError, "there is no such socket there")}
        key = "podman_host" if kind == "podman" else "docker_host"
        envs = {name: [ssh_lab.layer("orch-loop", user=sudo_lab.login),
                       f'{{type: {kind}, config: {{container: orch-test, {key}: "unix://{path}"}}}}']
                for name, (path, _, _) in cases.items()}
        orch = Orchestrator(load_config_text(ssh_lab.config_yaml(extra_envs=envs)))
        try:
            for name, (path, cls, words) in cases.items():
                with pytest.raises(LayerError) as info:
                    orch.run(name, command="true", timeout=60)
                message = str(info.value)
                assert type(info.value) is cls, (name, message)
                assert message.startswith(f"hop 2 ({kind} orch-test): cannot reach the "), message
                assert f"cannot open {path} on ssh orch-loop: " in message, message
                assert message.endswith(words) or f"{words};" in message, message
                assert ("system service" in message) == (kind == "podman" and cls is ConnectError)
        finally:
            orch.close()
    finally:
        for sock in socks:
            sock.close()
        shutil.rmtree(top)


def test_the_hosts_socket_check_finds_a_listener_through_a_link(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """review-s9 #3: /proc/net/unix lists the path a socket was bound with; docker's default
    /var/run/docker.sock is bound as /run/docker.sock (/var/run is a link), and was reported
    as nothing listening. The check runs on the host as this shell script."""
    import socket
    import subprocess

    from orch_magics.layers.ssh_socket import SOCKET_CHECK

    (tmp_path / "run").mkdir()
    (tmp_path / "varrun").symlink_to(tmp_path / "run")
    stale = tmp_path / "run" / "stale.sock"
    with socket.socket(socket.AF_UNIX) as dead:  # bound, then closed: as a dead engine's
        dead.bind(str(stale))
    with socket.socket(socket.AF_UNIX) as live:
        live.bind(str(tmp_path / "run" / "live.sock"))
        live.listen(1)

        def said(path) -> str:  # type: ignore[no-untyped-def]
            return subprocess.run(["sh", "-c", SOCKET_CHECK, "sh", str(path)],
                                  capture_output=True, text=True, timeout=30).stdout.strip()

        assert said(tmp_path / "run" / "live.sock") == ""
        assert said(tmp_path / "varrun" / "live.sock") == ""
        assert said(tmp_path / "varrun" / "stale.sock") == "orch-socket-unheard"


@pytest.mark.parametrize("banner", ["", "Welcome\n", "Last login: x", "\x1b]0;title\x07"])
def test_the_hosts_answer_is_read_after_a_banner_with_no_newline(banner: str) -> None:
    """chains31: a login shell's `printf` banner glued to the answer turned "may not reach
    that socket" into "its sshd refuses forwarding"."""
    from orch_magics.layers.ssh_socket import answer_of

    said = banner + "orch-socket-closed app /run/user/0\n"
    assert answer_of(said) == "orch-socket-closed app /run/user/0"
    assert answer_of(banner) == ""
