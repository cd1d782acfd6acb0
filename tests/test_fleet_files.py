"""Client keys and known_hosts are parsed once for a fleet, and read again once they change.

Each test works on copies of the fleet's key and known_hosts (the session fixture's files stay
untouched), edits them between runs of one Orchestrator and checks what the next connection does:
a removed or changed host key is refused, a fixed one accepted, a replaced client key used.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from fixtures.fleet import USER, SSHFleet
from orch_magics import Orchestrator, load_config_text

N = 30
CHANGED = f"127.0.1.{N}"  # presents a host key the fleet's known_hosts does not hold


def _config(fleet: SSHFleet, key: Path | None, known_hosts: Path | None) -> str:
    options = f"port: {fleet.port}, user: {USER}, connect_timeout: 5"
    if key is not None:
        options += f", identity_file: {key}"
    if known_hosts is not None:
        options += f", known_hosts: {known_hosts}"
    return (f"environments:\n  web:\n    layers:\n"
            f"      - {{type: ssh, config: {{host: \"127.0.1.[1:{N}]\", {options}}}}}\n"
            "services:\n  who: {command: 'echo \"$SSH_CONNECTION\" | cut -d\" \" -f3'}\n")


def _line(fleet: SSHFleet, address: str, key_file: str = "host_key.pub") -> str:
    kind, key = (fleet.root / key_file).read_text().split()[:2]
    return f"[{address}]:{fleet.port} {kind} {key}\n"


def _without(path: Path, address: str) -> None:
    kept = [ln for ln in path.read_text().splitlines(keepends=True)
            if not ln.startswith(f"[{address}]:")]
    path.write_text("".join(kept))


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty home directory (~/.ssh exists), with no ssh-agent to fall back on."""
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("SSH_AUTH_SOCK", raising=False)
    return home


@pytest.fixture
def files(ssh_fleet: SSHFleet, tmp_path: Path) -> tuple[Path, Path]:
    key, known = tmp_path / "id_ed25519", tmp_path / "known_hosts"
    shutil.copy(ssh_fleet.key, key)
    shutil.copy(ssh_fleet.known_hosts, known)
    key.chmod(0o600)
    return key, known


def test_changed_host_key_refused_among_many_on_one_parse(ssh_fleet: SSHFleet, files) -> None:
    key, known = files
    with Orchestrator(load_config_text(_config(ssh_fleet, key, known))) as orch:
        res = orch.run("web", "who")
    assert list(res.succeeded) == [f"127.0.1.{i}" for i in range(1, N)]
    assert list(res.failed) == [CHANGED] and "CHANGED" in res.causes[CHANGED]


def test_an_edited_known_hosts_is_read_again(ssh_fleet: SSHFleet, files) -> None:
    key, known = files
    with Orchestrator(load_config_text(_config(ssh_fleet, key, known))) as orch:
        assert orch.run("web", "who", limit="127.0.1.1").ok  # parsed and kept
        _without(known, "127.0.1.2")
        res = orch.run("web", "who", limit="127.0.1.2")
        assert not res.ok and "is unknown" in res.causes["127.0.1.2"]
        _without(known, CHANGED)  # the host was reinstalled: its new key is trusted
        with known.open("a") as f:
            f.write(_line(ssh_fleet, "127.0.1.2") + _line(ssh_fleet, CHANGED, "other_key.pub"))
        res = orch.run("web", "who", limit=f"127.0.1.2,{CHANGED}")
        assert res.ok, res.causes
        assert res[CHANGED].stdout == f"{CHANGED}\n"
        _without(known, "127.0.1.3")
        with known.open("a") as f:  # a key that is not the server's: refused as changed
            f.write(_line(ssh_fleet, "127.0.1.3", "other_key.pub"))
        res = orch.run("web", "who", limit="127.0.1.3")
        assert not res.ok and "CHANGED" in res.causes["127.0.1.3"]


def test_a_replaced_identity_file_is_read_again(ssh_fleet: SSHFleet, files,
                                                tmp_path: Path) -> None:
    key, known = files
    with Orchestrator(load_config_text(_config(ssh_fleet, key, known))) as orch:
        assert orch.run("web", "who", limit="127.0.1.1").ok
        key.unlink()  # rotated to a key the servers do not authorize
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)],
                       check=True)
        res = orch.run("web", "who", limit="127.0.1.2")
        assert not res.ok and "authentication failed" in res.causes["127.0.1.2"]
        for suffix in ("", ".pub"):  # and back
            shutil.copy(f"{ssh_fleet.key}{suffix}", f"{key}{suffix}")
        res = orch.run("web", "who", limit="127.0.1.3")
        assert res.ok, res.causes


def test_default_known_hosts_and_ssh_config_still_honoured(
        ssh_fleet: SSHFleet, files, home: Path, tmp_path: Path) -> None:
    key, _ = files
    default = home / ".ssh" / "known_hosts"
    default.write_text(_line(ssh_fleet, "127.0.1.1") + _line(ssh_fleet, "127.0.1.2")
                       + _line(ssh_fleet, "127.0.1.4"))
    with Orchestrator(load_config_text(_config(ssh_fleet, key, None))) as orch:
        res = orch.run("web", "who", limit="127.0.1.[123]")  # 4 not connected yet
        assert list(res.succeeded) == ["127.0.1.1", "127.0.1.2"], res.causes
        assert f"(not in {default})" in res.causes["127.0.1.3"]  # the file consulted
        other = tmp_path / "elsewhere"  # ~/.ssh/config points somewhere else: that file rules
        other.write_text(_line(ssh_fleet, "127.0.1.3"))
        (home / ".ssh" / "config").write_text(f"Host *\n  UserKnownHostsFile {other}\n")
        res = orch.run("web", "who", limit="127.0.1.[34]")
        assert list(res.succeeded) == ["127.0.1.3"] and list(res.failed) == ["127.0.1.4"]


def test_default_keys_are_read_again_and_ssh_config_still_honoured(
        ssh_fleet: SSHFleet, files, home: Path, tmp_path: Path) -> None:
    key, known = files
    default = home / ".ssh" / "id_ed25519"
    with Orchestrator(load_config_text(_config(ssh_fleet, None, known))) as orch:
        res = orch.run("web", "who", limit="127.0.1.1")  # no key at all yet
        assert not res.ok and "authentication failed" in res.causes["127.0.1.1"]
        for suffix in ("", ".pub"):
            shutil.copy(f"{ssh_fleet.key}{suffix}", f"{default}{suffix}")
        assert orch.run("web", "who", limit="127.0.1.2").ok, "a new default key is read"
        for suffix in ("", ".pub"):
            (home / ".ssh" / f"id_ed25519{suffix}").unlink()
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(default)],
                       check=True)
        res = orch.run("web", "who", limit="127.0.1.3")
        assert not res.ok and "authentication failed" in res.causes["127.0.1.3"]
        (home / ".ssh" / "config").write_text(f"Host 127.0.1.4\n  IdentityFile {key}\n")
        res = orch.run("web", "who", limit="127.0.1.[45]")  # the config's key for 4 only
        assert list(res.succeeded) == ["127.0.1.4"] and list(res.failed) == ["127.0.1.5"]
