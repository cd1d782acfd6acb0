"""Host keys checked against the known_hosts files actually consulted (the layer's `known_hosts`,
or the ssh_config's `UserKnownHostsFile` / `GlobalKnownHostsFile`): a changed key says CHANGED
with the offending FILE:LINE and is never advised to be trusted; an unknown key's advice is a
command that works where it is meant to run."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from fixtures.sshd import known_host
from orch_magics import Orchestrator, load_config_text
from orch_magics.errors import HostKeyError

pytestmark = pytest.mark.ssh


def own_layer(alias: str, ssh_config: Path, **extra: str) -> str:
    """An ssh layer naming no `known_hosts`: the ssh_config decides which file is read."""
    body = ", ".join([f"host: {alias}", f"ssh_config: '{ssh_config}'", "connect_timeout: 5",
                      *(f"{k}: '{v}'" for k, v in extra.items())])
    return f"{{type: ssh, config: {{{body}}}}}"


def config_with(lab, tmp_path: Path, replace: dict[str, str], name: str = "ssh_config") -> Path:  # type: ignore[no-untyped-def]
    """A copy of the lab's ssh_config with lines replaced (old line → new text)."""
    text = lab.ssh_config.read_text()
    for old, new in replace.items():
        assert old in text, old
        text = text.replace(old, new)
    path = tmp_path / name
    path.write_text(text)
    return path


def fail(lab, *layers: str) -> str:  # type: ignore[no-untyped-def]
    orch = Orchestrator(load_config_text(lab.config_yaml(extra_envs={"t": list(layers)})))
    try:
        with pytest.raises(HostKeyError) as info:
            orch.run("t", command="true")
    finally:
        orch.close()
    text = str(info.value)
    assert "\n" not in text
    return text


def assert_changed(text: str, path: Path, line: int) -> None:
    """CHANGED, naming FILE:LINE, how to remove it, and no advice to trust the offered key."""
    assert "CHANGED" in text and "unknown" not in text, text
    assert f"{path}:{line}" in text, text
    assert f"ssh-keygen -f {path} -R" in text, text
    for advice in ("ssh-keyscan", ">>", "insecure_accept_host_key", "trust it"):
        assert advice not in text, (advice, text)


def test_a_changed_key_in_the_ssh_configs_known_hosts_file_says_changed(ssh_lab, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Before: "is unknown (not in ~/.ssh/known_hosts) … trust it with `ssh-keyscan …`"."""
    wrong = ssh_lab.root / "known_hosts_wrong"
    config = config_with(ssh_lab, tmp_path, {
        f"UserKnownHostsFile {ssh_lab.known_hosts}": f"UserKnownHostsFile {wrong}"})
    assert_changed(fail(ssh_lab, own_layer("orch-loop", config)), wrong, 1)


@pytest.mark.parametrize("with_user_file", [True, False])
def test_a_changed_key_in_the_global_known_hosts_file_names_its_line(ssh_lab, tmp_path,  # type: ignore[no-untyped-def]
                                                                     with_user_file: bool) -> None:
    """Alone, GlobalKnownHostsFile is the only file asyncssh reads (not ~/.ssh/known_hosts)."""
    empty = ssh_lab.root / "known_hosts_empty"
    other = (ssh_lab.root / "other_key.pub").read_text().split()
    glob = tmp_path / "global_known_hosts"
    glob.write_text(f"# fleet keys\nsomewhere.example {other[0]} {other[1]}\n"
                    + known_host("127.0.0.1", ssh_lab.loop.port, ssh_lab.root / "other_key.pub"))
    config = config_with(ssh_lab, tmp_path, {
        f"UserKnownHostsFile {ssh_lab.known_hosts}":
            (f"UserKnownHostsFile {empty}\n  " if with_user_file else "")
            + f"GlobalKnownHostsFile {glob}"})
    assert_changed(fail(ssh_lab, own_layer("orch-loop", config)), glob, 3)


def test_a_changed_key_of_the_second_hop_says_changed(ssh_lab, tmp_path) -> None:  # type: ignore[no-untyped-def]
    wrong = tmp_path / "inner_wrong"
    lines = ssh_lab.known_hosts.read_text().splitlines(keepends=True)
    inner = [n for n, line in enumerate(lines) if line.startswith(ssh_lab.inner_addr + " ")]
    assert len(inner) == 1
    lines[inner[0]] = known_host(ssh_lab.inner_addr, 22, ssh_lab.root / "other_key.pub")
    wrong.write_text("".join(lines))
    inner_block = (f"Host orch-inner\n  HostName {ssh_lab.inner_addr}\n  User root\n"
                   f"  IdentityFile {ssh_lab.key}\n  UserKnownHostsFile {ssh_lab.known_hosts}")
    config = config_with(ssh_lab, tmp_path, {inner_block: inner_block.replace(
        f"UserKnownHostsFile {ssh_lab.known_hosts}", f"UserKnownHostsFile {wrong}")})
    text = fail(ssh_lab, own_layer("orch-bastion", config), own_layer("orch-inner", config))
    assert text.startswith("hop 2 (ssh orch-inner): ")
    assert_changed(text, wrong, inner[0] + 1)


def test_a_changed_key_in_the_layers_known_hosts_names_its_line(ssh_lab, tmp_path) -> None:  # type: ignore[no-untyped-def]
    wrong = tmp_path / "known_hosts"
    wrong.write_text("# comment\n\n" + known_host("127.0.0.1", ssh_lab.loop.port,
                                                  ssh_lab.root / "other_key.pub"))
    assert_changed(fail(ssh_lab, ssh_lab.layer("orch-loop", known_hosts=str(wrong))), wrong, 3)


def commands_in(text: str) -> list[str]:
    return re.findall(r"`([^`]*)`", text)


def test_the_unknown_key_advice_of_the_ssh_configs_file_works(ssh_lab, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """The command given appends to the file the ssh_config names (before: ~/.ssh/known_hosts,
    which asyncssh never read for this host); running it makes the next run work."""
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    config = config_with(ssh_lab, tmp_path, {
        f"UserKnownHostsFile {ssh_lab.known_hosts}": f"UserKnownHostsFile {empty}"})
    layer = own_layer("orch-loop", config)
    text = fail(ssh_lab, layer)
    assert "unknown" in text and str(empty) in text
    scan = [c for c in commands_in(text) if c.startswith("ssh-keyscan")]
    assert scan == [f"ssh-keyscan -p {ssh_lab.loop.port} 127.0.0.1 >> {empty}"], text
    subprocess.run(["sh", "-c", scan[0]], check=True, capture_output=True, timeout=30)
    orch = Orchestrator(load_config_text(ssh_lab.config_yaml(extra_envs={"t": [layer]})))
    try:
        assert orch.run("t", command="echo trusted").stdout == "trusted\n"
    finally:
        orch.close()


def test_the_unknown_key_advice_of_the_second_hop_runs_on_the_bastion(ssh_lab, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Before: `ssh-keyscan -p 22 ADDR (run on ssh orch-bastion, …) >> FILE`, not a command.
    Now the back-quoted command is run on the bastion as it stands and its output appended to
    the file named, which makes the next run work."""
    kh = tmp_path / "kh_noinner"
    kh.write_text("".join(line for line in ssh_lab.known_hosts.read_text().splitlines(True)
                          if not line.startswith(ssh_lab.inner_addr + " ")))
    inner = ssh_lab.layer("orch-inner", known_hosts=str(kh))
    text = fail(ssh_lab, ssh_lab.layer("orch-bastion"), inner)
    assert text.startswith("hop 2 (ssh orch-inner): ") and "unknown" in text
    scan = [c for c in commands_in(text) if c.startswith("ssh-keyscan")]
    assert scan == [f"ssh-keyscan -p 22 {ssh_lab.inner_addr}"], text
    assert "on ssh orch-bastion" in text and f"appended to {kh} on this machine" in text
    found = subprocess.run(["ip", "netns", "exec", ssh_lab.bastion_ns, "sh", "-c", scan[0]],
                           check=True, capture_output=True, text=True, timeout=30).stdout
    with kh.open("a") as f:
        f.write(found)
    orch = Orchestrator(load_config_text(ssh_lab.config_yaml(
        extra_envs={"t": [ssh_lab.layer("orch-bastion"), inner]})))
    try:
        assert orch.run("t", command="echo inner").stdout == "inner\n"
    finally:
        orch.close()


@pytest.mark.parametrize("through", ["layer", "ssh_config"])
def test_a_line_openssh_skips_does_not_stop_every_hop(ssh_lab, tmp_path, through: str) -> None:  # type: ignore[no-untyped-def]
    """config16: one malformed line (a lone host name, a bad marker, bytes not UTF-8) made
    every hop fail with "cannot reach HOST: Invalid known hosts entry", where `ssh` skips it
    and connects; a changed key after such lines is still said with its own line."""
    bad = b"otherhost\n@nonsense h ssh-ed25519 AAAA\n\xff\xfe\n"
    good = tmp_path / "known_hosts"
    good.write_bytes(bad + ssh_lab.known_hosts.read_bytes())
    config = config_with(ssh_lab, tmp_path, {
        f"UserKnownHostsFile {ssh_lab.known_hosts}": f"UserKnownHostsFile {good}"})
    layer = (ssh_lab.layer("orch-loop", known_hosts=str(good)) if through == "layer"
             else own_layer("orch-loop", config))
    with Orchestrator(load_config_text(ssh_lab.config_yaml(extra_envs={"t": [layer]}))) as orch:
        assert orch.run("t", command="echo hi").stdout == "hi\n"
    ssh = subprocess.run(["ssh", "-F", str(config), "-o", "BatchMode=yes", "orch-loop", "echo hi"],
                         capture_output=True, text=True, timeout=30)
    assert ssh.stdout == "hi\n", ssh.stderr  # what OpenSSH does with the same file
    wrong = tmp_path / "known_hosts_wrong"
    wrong.write_bytes(bad + known_host("127.0.0.1", ssh_lab.loop.port,
                                       ssh_lab.root / "other_key.pub").encode())
    assert_changed(fail(ssh_lab, ssh_lab.layer("orch-loop", known_hosts=str(wrong))), wrong, 4)


@pytest.mark.parametrize("named", ["none", "/nonexistent/known_hosts"])
def test_an_ssh_config_naming_no_usable_known_hosts_checks_the_key_all_the_same(
        ssh_lab, tmp_path, named: str) -> None:  # type: ignore[no-untyped-def]
    """review30: `UserKnownHostsFile none` made asyncssh check no host key at all, where ssh
    says "Host key verification failed"; a file that is not there said "cannot reach HOST:
    No such file or directory". Both are an unknown host key now, as ssh has it."""
    config = config_with(ssh_lab, tmp_path, {
        f"UserKnownHostsFile {ssh_lab.known_hosts}": f"UserKnownHostsFile {named}"})
    text = fail(ssh_lab, own_layer("orch-loop", config))
    assert "unknown" in text and "CHANGED" not in text, text
    ssh = subprocess.run(["ssh", "-F", str(config), "-o", "BatchMode=yes", "orch-loop", "true"],
                         capture_output=True, text=True, timeout=30)
    assert ssh.returncode == 255 and "Host key verification failed" in ssh.stderr, ssh.stderr


def test_user_known_hosts_none_reads_the_global_file_the_config_names(ssh_lab, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """review31: with `UserKnownHostsFile none`, the system's files were read even where the
    ssh_config names a GlobalKnownHostsFile (ssh reads that one): the host was refused."""
    config = config_with(ssh_lab, tmp_path, {
        f"UserKnownHostsFile {ssh_lab.known_hosts}":
            f"UserKnownHostsFile none\n  GlobalKnownHostsFile {ssh_lab.known_hosts}"})
    layer = own_layer("orch-loop", config)
    with Orchestrator(load_config_text(ssh_lab.config_yaml(extra_envs={"t": [layer]}))) as orch:
        assert orch.run("t", command="echo hi").stdout == "hi\n"
