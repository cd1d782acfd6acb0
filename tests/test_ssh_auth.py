"""SSH logins other than the lab's key file: a password from a secret, and ssh-agent."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from fixtures.ports import free_port
from fixtures.sshd import known_host, launch_sshd, stop_servers
from orch_magics import AuthError, Orchestrator, load_config_text
from orch_magics.config.model import SecretsSettings
from orch_magics.errors import ConnectError, PasswordRejected
from orch_magics.secrets import Resolver, prompt
from orch_magics.secrets.masking import MASK

pytestmark = pytest.mark.ssh
USER = "orch-pw"
PASSWORD = "pw-for-the-ssh-test-9731"


@pytest.fixture(scope="module")
def password_sshd(ssh_lab, tmp_path_factory) -> Iterator[tuple[int, Path]]:  # type: ignore[no-untyped-def]
    """A second loopback sshd (the lab's host key) that accepts passwords, and a user with one."""
    subprocess.run(["userdel", "-r", USER], capture_output=True, check=False)
    subprocess.run(["useradd", "--create-home", "--shell", "/bin/sh", USER], check=True)
    subprocess.run(["chpasswd"], input=f"{USER}:{PASSWORD}\n", text=True, check=True)
    root = tmp_path_factory.mktemp("pwsshd")
    port = free_port()
    server = launch_sshd(root, "password", "127.0.0.1", port,
                         replace(ssh_lab.sshd_config, passwords=True))
    try:
        server.wait_listening(time.monotonic() + 10)
        # its host key is the lab's, so the lab's known_hosts entry only needs this port
        (root / "known_hosts").write_text(
            known_host("127.0.0.1", port, ssh_lab.root / "host_key.pub"))
        yield port, root / "known_hosts"
    finally:
        stop_servers([server])
        subprocess.run(["pkill", "-KILL", "-u", USER], capture_output=True, check=False)
        subprocess.run(["userdel", "-r", USER], capture_output=True, check=False)


def config_for(port: int, known_hosts: Path, **extra: str) -> str:
    opts = {"host": "127.0.0.1", "port": str(port), "known_hosts": f"'{known_hosts}'", **extra}
    body = ", ".join(f"{k}: {v}" for k, v in opts.items())
    return f"environments:\n  remote:\n    layers:\n      - {{type: ssh, config: {{{body}}}}}\n"


def test_password_from_a_secret_logs_in_and_is_masked(
        password_sshd: tuple[int, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    port, known = password_sshd
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.ssh keys to try first
    monkeypatch.delenv("SSH_AUTH_SOCK", raising=False)
    text = config_for(port, known, user=USER, password="'{{secret:ssh_pw}}'")
    monkeypatch.setenv("ORCH_SECRET_SSH_PW", PASSWORD)
    orch = Orchestrator(load_config_text(text))
    try:
        # logged in with the password; the value, echoed back in two pieces, is masked
        res = orch.run("remote", command=f"id -un; printf '%s%s\\n' {PASSWORD[:8]} {PASSWORD[8:]}")
        assert res.lines == [USER, MASK], res.stdout
        assert PASSWORD not in repr(orch.plan("remote", command="true"))
        monkeypatch.setenv("ORCH_SECRET_SSH_PW", "wrong-password-123")
        # a wrong password: the hint names it (before: only user, identity_file, ssh-agent)
        with pytest.raises(AuthError, match=f"hop 1 .*authentication failed for {USER}@.*"
                                            f"check user, the password, "):
            Orchestrator(load_config_text(text)).run("remote", command="true")
    finally:
        orch.close()


def test_a_refused_prompted_password_is_asked_again(
        password_sshd: tuple[int, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Finding sudo #5, for an ssh login: a mistyped password stayed remembered for the
    session, and every later run was refused with it again."""
    port, known = password_sshd
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.ssh keys to try first
    monkeypatch.delenv("SSH_AUTH_SOCK", raising=False)
    typed = iter(["mistyped-ssh-pw", PASSWORD])
    orch = Orchestrator(load_config_text(config_for(port, known, user=USER,
                                                    password="'{{secret:ssh_pw}}'")),
                        resolver_factory=lambda: Resolver.from_settings(
                            SecretsSettings(providers=("prompt",)), prompt=lambda _: next(typed)))
    prompt._PROMPTED.clear()  # the session cache: each test is a new session
    try:
        with pytest.raises(PasswordRejected, match="hop 1 .*authentication failed.*; the secret "
                           "'ssh_pw' typed at the prompt is forgotten: the next run asks for "
                           "it again"):
            orch.run("remote", command="true")
        assert orch.run("remote", command="id -un").lines == [USER]
    finally:
        orch.close()
        prompt._PROMPTED.clear()


def test_missing_identity_file_is_named(ssh_lab) -> None:  # type: ignore[no-untyped-def]
    text = config_for(ssh_lab.loop.port, ssh_lab.known_hosts, identity_file="/no/such/key")
    with pytest.raises(AuthError, match="identity_file /no/such/key does not exist"):
        Orchestrator(load_config_text(text)).run("remote", command="true")


@pytest.mark.parametrize("ssh_config", [False, True])
def test_a_public_key_named_as_identity_file_is_said_so(ssh_lab, tmp_path: Path,  # type: ignore[no-untyped-def]
                                                        ssh_config: bool) -> None:
    """config14: the .pub named as identity_file was "authentication failed … check
    authorized_keys" where the lab's ssh_config says IdentitiesOnly."""
    public = f"{ssh_lab.key}.pub"
    extra = {"ssh_config": str(ssh_lab.ssh_config)} if ssh_config else {}
    text = config_for(ssh_lab.loop.port, ssh_lab.known_hosts, identity_file=public, **extra)
    with pytest.raises(AuthError) as err:
        Orchestrator(load_config_text(text)).run("remote", command="true")
    assert str(err.value).endswith(f"identity_file {public} is a public key: name the private "
                                   f"one (without .pub)"), err.value


@pytest.mark.parametrize("key", ["ssh_config", "known_hosts"])
def test_a_missing_ssh_config_or_known_hosts_file_is_named(ssh_lab, key: str) -> None:  # type: ignore[no-untyped-def]
    """Before: 'cannot reach HOST: No such file or directory', as if the host were missing."""
    if key == "ssh_config":
        text = config_for(ssh_lab.loop.port, ssh_lab.known_hosts, ssh_config="/no/such/file")
    else:
        text = config_for(ssh_lab.loop.port, Path("/no/such/file"))
    with pytest.raises(ConnectError) as err:
        Orchestrator(load_config_text(text)).run("remote", command="true")
    assert str(err.value).endswith(f"{key} /no/such/file does not exist (or is not a file)")


def test_ssh_agent_is_used_when_present(ssh_lab, tmp_path: Path,  # type: ignore[no-untyped-def]
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    sock = tmp_path / "agent.sock"
    agent = subprocess.Popen(["ssh-agent", "-D", "-a", str(sock)], stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            if sock.exists():
                break
            time.sleep(0.02)
        key = tmp_path / "agent_key"
        shutil.copy(ssh_lab.key, key)
        os.chmod(key, 0o600)
        env = {**os.environ, "SSH_AUTH_SOCK": str(sock)}
        subprocess.run(["ssh-add", "-q", str(key)], env=env, check=True, capture_output=True)
        key.unlink()  # only the agent holds it now
        monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.ssh keys or config to fall back on
        text = config_for(ssh_lab.loop.port, ssh_lab.known_hosts, user="root")
        monkeypatch.setenv("SSH_AUTH_SOCK", str(sock))
        orch = Orchestrator(load_config_text(text))
        try:
            assert orch.run("remote", command="echo via-agent").stdout == "via-agent\n"
        finally:
            orch.close()
        monkeypatch.delenv("SSH_AUTH_SOCK")
        with pytest.raises(AuthError, match="authentication failed"):
            Orchestrator(load_config_text(text)).run("remote", command="true")
    finally:
        agent.send_signal(signal.SIGTERM)
        agent.wait(10)


async def test_unresolved_password_placeholder_reaching_the_layer_is_a_clear_error(
        ssh_lab, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    """Layers never resolve secrets (plans do): a chain built by hand from unresolved config
    says so instead of resolving the placeholder a second time or sending it as a password."""
    from orch_magics.errors import LayerError, OrchError
    from orch_magics.executor import LayeredExecutor
    from orch_magics.layers.local import LocalLauncher
    from orch_magics.process.command import Command

    monkeypatch.setenv("ORCH_SECRET_SSH_PW", "would-have-been-used")
    text = config_for(ssh_lab.loop.port, ssh_lab.known_hosts, password="'{{secret:ssh_pw}}'")
    layers = load_config_text(text).environments["remote"].layers
    base = LocalLauncher()
    try:
        with pytest.raises(LayerError) as info:
            await LayeredExecutor(base, layers).launch(Command.of("true"))
    finally:
        await base.context.aclose()
    assert isinstance(info.value, OrchError)
    assert str(info.value).startswith("hop 1 (ssh 127.0.0.1): password is still an unresolved")
    assert "would-have-been-used" not in str(info.value)


@pytest.fixture
def agent(tmp_path: Path) -> Iterator[str]:
    """A private ssh-agent's socket (stopped after the test)."""
    sock = tmp_path / "agent.sock"
    proc = subprocess.Popen(["ssh-agent", "-D", "-a", str(sock)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        for _ in range(250):
            if sock.exists():
                break
            time.sleep(0.02)
        yield str(sock)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(10)


@pytest.fixture
def passphrase_key(ssh_lab, tmp_path: Path) -> Iterator[Path]:  # type: ignore[no-untyped-def]
    """A passphrase-protected key the lab's servers accept (for this test only)."""
    key = tmp_path / "pp_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "sekrit-pass", "-f", str(key)],
                   check=True)
    authorized = ssh_lab.root / "authorized_keys"
    before = authorized.read_text()
    authorized.write_text(before + (tmp_path / "pp_key.pub").read_text())
    try:
        yield key
    finally:
        authorized.write_text(before)


def add_to_agent(key: Path, sock: str, passphrase: str) -> None:
    askpass = key.parent / "askpass.sh"
    askpass.write_text(f"#!/bin/sh\necho {passphrase}\n")
    askpass.chmod(0o700)
    env = {**os.environ, "SSH_AUTH_SOCK": sock, "SSH_ASKPASS": str(askpass),
           "SSH_ASKPASS_REQUIRE": "force", "DISPLAY": "x"}
    subprocess.run(["ssh-add", "-q", str(key)], env=env, check=True, capture_output=True,
                   stdin=subprocess.DEVNULL, timeout=30)


def test_a_passphrase_protected_identity_file_is_used_through_the_agent(
        ssh_lab, passphrase_key: Path, agent: str, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    """As OpenSSH's `-i KEY` does. Before: "cannot read identity file …: Passphrase must be
    specified to import encrypted private keys", agent or not."""
    monkeypatch.setenv("HOME", str(passphrase_key.parent))  # no ~/.ssh keys to fall back on
    text = config_for(ssh_lab.loop.port, ssh_lab.known_hosts, user="root",
                      identity_file=f"'{passphrase_key}'")
    monkeypatch.setenv("SSH_AUTH_SOCK", agent)
    with pytest.raises(AuthError) as info:  # the agent does not hold it yet
        Orchestrator(load_config_text(text)).run("remote", command="true")
    message = str(info.value)
    assert "\n" not in message and "passphrase-protected" in message, message
    assert f"ssh-add {passphrase_key}" in message and "SSH_AUTH_SOCK" not in message
    add_to_agent(passphrase_key, agent, "sekrit-pass")
    orch = Orchestrator(load_config_text(text))
    try:
        assert orch.run("remote", command="echo via-agent").stdout == "via-agent\n"
    finally:
        orch.close()
    monkeypatch.delenv("SSH_AUTH_SOCK")  # no agent at all: said so, in one line
    with pytest.raises(AuthError) as info:
        Orchestrator(load_config_text(text)).run("remote", command="true")
    message = str(info.value)
    assert "\n" not in message and "passphrase-protected" in message, message
    assert "SSH_AUTH_SOCK is not set" in message and f"ssh-add {passphrase_key}" in message


def ssh_config_with_keys(lab, tmp_path: Path, *keys: str, host_star: bool = False) -> Path:  # type: ignore[no-untyped-def]
    """An ssh_config for the lab's loop server whose IdentityFile lines are `keys` (in a
    `Host *` block after the host's own when `host_star`)."""
    lines = [f"Host orch-k\n  HostName 127.0.0.1\n  Port {lab.loop.port}\n  User root\n"
             f"  UserKnownHostsFile {lab.known_hosts}\n"]
    block = "".join(f"  IdentityFile {k}\n" for k in keys)
    lines.append(f"Host *\n{block}" if host_star else block)
    path = tmp_path / "ssh_config_keys"
    path.write_text("".join(lines))
    return path


@pytest.mark.parametrize("host_star", [False, True])
def test_a_missing_identity_file_in_ssh_config_is_skipped(
        ssh_lab, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, host_star: bool,  # type: ignore[no-untyped-def]
        agent: str) -> None:
    """As OpenSSH does: the next key is used, or the agent's when none is left. Before:
    "cannot reach …: No such file or directory". Only when no key is left at all does it
    fail, naming the missing files."""
    monkeypatch.delenv("SSH_AUTH_SOCK", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    missing = [str(tmp_path / "no_such_key"), str(tmp_path / "gone_too")]
    config = ssh_config_with_keys(ssh_lab, tmp_path, missing[0], str(ssh_lab.key), missing[1],
                                  host_star=host_star)
    text = ("environments:\n  k:\n    layers:\n      - {type: ssh, config: {host: orch-k, "
            f"ssh_config: '{config}', connect_timeout: 5}}}}\n")
    orch = Orchestrator(load_config_text(text))
    try:
        assert orch.run("k", command="echo second-key").stdout == "second-key\n"
    finally:
        orch.close()
    ssh_config_with_keys(ssh_lab, tmp_path, *missing, host_star=host_star)
    with pytest.raises(AuthError) as info:
        Orchestrator(load_config_text(text)).run("k", command="true")
    message = str(info.value)
    assert message.startswith("hop 1 (ssh orch-k): no identity file"), message
    assert all(m in message for m in missing) and str(config) in message
    assert "cannot reach" not in message and "\n" not in message
    held = tmp_path / "held_key"
    shutil.copy(ssh_lab.key, held)
    os.chmod(held, 0o600)
    add_to_agent(held, agent, "unused")
    held.unlink()
    monkeypatch.setenv("SSH_AUTH_SOCK", agent)
    orch = Orchestrator(load_config_text(text))
    try:
        assert orch.run("k", command="echo agent-key").stdout == "agent-key\n"
    finally:
        orch.close()


def test_an_ssh_config_sendenv_sends_no_variable_of_this_machine(ssh_lab, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """safety21: `SendEnv ORCH_*` in the ssh_config made asyncssh send the ORCH_SECRET_*
    variables the env provider reads to a server with `AcceptEnv *`: the command (and its
    parent) had them, unmasked, though the run asked for no secret. SetEnv likewise."""
    port = free_port()
    server = launch_sshd(tmp_path, "acc", "127.0.0.1", port,
                         ssh_lab.sshd_config.with_lines("AcceptEnv *"))
    try:
        server.wait_listening(time.monotonic() + 10)
        kh = tmp_path / "kh"
        kh.write_text(f"[127.0.0.1]:{port} " + " ".join(
            (ssh_lab.root / "host_key.pub").read_text().split()[:2]) + "\n")
        sshcfg = tmp_path / "sshcfg"
        sshcfg.write_text(f"Host acc\n  HostName 127.0.0.1\n  Port {port}\n  User root\n"
                          f"  IdentityFile {ssh_lab.key}\n  UserKnownHostsFile {kh}\n"
                          f"  SendEnv LANG ORCH_*\n  SetEnv ORCH_SET=from-config\n")
        (tmp_path / "o.yaml").write_text(
            f"environments:\n  a: {{layers: [{{type: ssh, config: {{host: acc, "
            f"ssh_config: {sshcfg}}}}}]}}\naudit: {{enabled: false}}\n")
        env = dict(os.environ, ORCH_SECRET_DB="SendEnvSecret42")
        said = subprocess.run(
            [sys.executable, "-m", "orch_magics.cli", "-c", str(tmp_path / "o.yaml"), "run",
             "a", "--", "sh", "-c", "env | grep ^ORCH_ || echo none; tr '\\0' '\\n' "
             "< /proc/$PPID/environ | grep ^ORCH_ || echo none-in-parent"],
            env=env, capture_output=True, text=True, timeout=60)
        assert (said.returncode, said.stdout) == (0, "none\nnone-in-parent\n"), said
    finally:
        stop_servers([server])


def test_a_refused_password_is_in_no_frame_of_the_error_s_traceback(
        password_sshd: tuple[int, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """safety21: asyncssh's keywords, a plain dict in a frame of the raised PasswordRejected,
    held the password: a traceback printed with locals (pytest -l, rich, error trackers)
    showed it in clear."""
    import traceback

    port, known = password_sshd
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("SSH_AUTH_SOCK", raising=False)
    monkeypatch.setenv("ORCH_SECRET_SSH_PW", "Wr0ngPassw0rdXYZ")
    with Orchestrator(load_config_text(config_for(port, known, user=USER,
                                                  password="'{{secret:ssh_pw}}'"))) as orch:
        with pytest.raises(PasswordRejected) as err:
            orch.run("remote", command="true")
    shown = "".join(traceback.TracebackException.from_exception(
        err.value, capture_locals=True).format())
    assert "_connect" in shown and "Wr0ngPassw0rdXYZ" not in shown
