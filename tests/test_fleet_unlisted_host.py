"""A host of a label fleet whose containers could not be listed (unreachable when the fleet
looked): its row is the host's own, failed. It counts against `--max-fail` like any failed
target, and a rerun of it runs its containers once the host is back (held-out tester fleets3
#3, #4: the containers of the other hosts all ran under `max_fail=0`, and `res.failed.rerun()`
said the host "is no longer a target" every time, so `while not res.ok` never ended).
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from fixtures.dockerd import Engine
from fixtures.sshd import SSHLab, launch_sshd, stop_servers
from orch_magics import FleetResult, Orchestrator, load_config, load_config_text
from test_fleet_lab import Inner, inner_hosts  # noqa: F401  (module fixture)

pytestmark = pytest.mark.ssh


def _config(ssh_lab: SSHLab, inner: Inner, dockerd: Engine, hosts: list[str],  # noqa: F811
            label: str | None) -> str:
    ssh = (f"{{type: ssh, config: {{host: [{', '.join(hosts)}], user: root, "
           f"identity_file: {ssh_lab.key}, known_hosts: {inner.known_hosts}}}}}")
    docker = f"{{type: docker, config: {{label: orch.fleet={label}, docker_host: {dockerd.host}}}}}"
    layers = [ssh_lab.layer("orch-bastion"), ssh, *([docker] if label else [])]
    return ssh_lab.config_yaml(extra_envs={"apps": layers},
                               services="  name: {command: 'cat /etc/hostname'}\n")


def _rerun_once_back(ssh_lab: SSHLab, host: str, res: FleetResult) -> FleetResult:
    """`res.failed.rerun()` with an sshd listening on `host` again meanwhile."""
    back = launch_sshd(ssh_lab.root, "back", host, 22, ssh_lab.sshd_config, ssh_lab.inner_ns)
    try:
        back.wait_listening(time.monotonic() + 10)
        return res.failed.rerun()
    finally:
        stop_servers([back])


@pytest.mark.parametrize("label", [None, "unlisted-m"], ids=["hosts", "containers"])
def test_max_fail_counts_a_host_whose_containers_could_not_be_listed(
        ssh_lab: SSHLab, inner_hosts: Inner, dockerd: Engine, label: str | None) -> None:  # noqa: F811
    text = _config(ssh_lab, inner_hosts, dockerd, [inner_hosts.dead, inner_hosts.live[0]], label)
    with dockerd.labelled({"orch.fleet": "unlisted-m"}, ["unlisted-m-a", "unlisted-m-b"]), \
            Orchestrator(load_config_text(text)) as orch:
        res = orch.run("apps", "name", max_fail=0, parallel=1)
    assert res.states[inner_hosts.dead] == "failed"
    others = {k: v for k, v in res.states.items() if k != inner_hosts.dead}
    assert len(others) == (2 if label else 1) and set(others.values()) == {"skipped"}, others


def test_a_rerun_runs_the_containers_of_a_host_that_is_back(
        ssh_lab: SSHLab, inner_hosts: Inner, dockerd: Engine) -> None:  # noqa: F811
    text = _config(ssh_lab, inner_hosts, dockerd, [inner_hosts.live[0], inner_hosts.dead],
                   "unlisted-r")
    with dockerd.labelled({"orch.fleet": "unlisted-r"}, ["unlisted-r-a", "unlisted-r-b"]), \
            Orchestrator(load_config_text(text)) as orch:
        res = orch.run("apps", "name")
        assert list(res.failed) == [inner_hosts.dead], res.states
        again = _rerun_once_back(ssh_lab, inner_hosts.dead, res)
    assert sorted(again) == [f"{inner_hosts.dead}/unlisted-r-a", f"{inner_hosts.dead}/unlisted-r-b"]
    assert again.ok, again.table()


@pytest.mark.parametrize("limit", ["*/p7-a", "!*/p7-b", "p7-a", "*,&*/p7-a"])
def test_a_rerun_of_a_host_that_is_back_keeps_the_limit(
        ssh_lab: SSHLab, inner_hosts: Inner, dockerd: Engine, limit: str) -> None:  # noqa: F811
    """The rerun dropped the limit: once the host was back, `res.failed.rerun()` ran every
    container on it, `p7-b` too, though `!*/p7-b` excluded it by name (fleets7 tester)."""
    dead = inner_hosts.dead
    text = _config(ssh_lab, inner_hosts, dockerd, [inner_hosts.live[0], dead], "p7")
    with dockerd.labelled({"orch.fleet": "p7"}, ["p7-a", "p7-b"]), \
            Orchestrator(load_config_text(text)) as orch:
        res = orch.run("apps", "name", limit=limit)
        assert res.states == {f"{inner_hosts.live[0]}/p7-a": "ok", dead: "failed"}
        again = _rerun_once_back(ssh_lab, dead, res)
    assert again.states == {f"{dead}/p7-a": "ok"}


@contextlib.contextmanager
def _silent_host(ssh_lab: SSHLab, address: str) -> Iterator[Callable[[], int]]:
    """A host at `address` (inner namespace, port 22) that takes connections and never
    answers, as a hung host does; yields how many connections it took so far."""
    log = ssh_lab.root / f"silent-{address}.log"
    code = ("import socket, sys\ns = socket.create_server((sys.argv[1], 22))\n"
            "print('listening', flush=True)\nheld = []\nwhile True:\n"
            "    held.append(s.accept()[0]); print('accepted', flush=True)\n")
    with open(log, "w") as out:
        proc = subprocess.Popen(["ip", "netns", "exec", ssh_lab.inner_ns, sys.executable, "-c",
                                 code, address], stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 10
        while "listening" not in log.read_text():
            assert proc.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.05)
        yield lambda: log.read_text().count("accepted")
    finally:
        proc.kill()
        proc.wait()


@pytest.mark.parametrize("limit", ["!{dead}", "{live}/*", "{live}/quiet-a", "!{dead}/*",
                                   "*/quiet-a,!{dead}"])
def test_a_host_the_limit_keeps_none_of_is_never_contacted(
        ssh_lab: SSHLab, inner_hosts: Inner, dockerd: Engine, tmp_path: Path,  # noqa: F811
        limit: str) -> None:
    """fleets20: orch logged in to a host `--limit '!HOST'` (or `OTHER/*`) kept none of, to
    list its containers; a host that hung held the whole fleet for its connect timeout."""
    dead, live = inner_hosts.dead, inner_hosts.live[0]
    limit = limit.format(dead=dead, live=live)
    text = _config(ssh_lab, inner_hosts, dockerd, [dead, live], "quiet")
    with _silent_host(ssh_lab, dead) as contacted, \
            dockerd.labelled({"orch.fleet": "quiet"}, ["quiet-a"]), \
            Orchestrator(load_config_text(text)) as orch:
        res = orch.run("apps", "name", limit=limit)
        copied = orch.get("apps", "/etc/hostname", tmp_path, limit=limit)
    assert res.states == {f"{live}/quiet-a": "ok"}, res.table()
    assert sorted(copied) == [f"{live}/quiet-a"], copied
    assert contacted() == 0


@pytest.mark.parametrize("limit", ["down-*", "*/down-a", "!down-a", "!canary-*", "&down-*"])
def test_while_every_host_is_down_a_limit_shows_each_host_s_cause(
        ssh_lab: SSHLab, inner_hosts: Inner, dockerd: Engine, limit: str) -> None:  # noqa: F811
    """fleets20: with no host answering, a glob or an exclusion matched no container, and the
    outage was said as a config error of the limit ("matches no target"), the cause unsaid."""
    text = _config(ssh_lab, inner_hosts, dockerd, [inner_hosts.dead], "down")
    with Orchestrator(load_config_text(text)) as orch:
        res = orch.run("apps", "name", limit=limit)
    assert res.states == {inner_hosts.dead: "failed"}
    assert "refused" in res.causes[inner_hosts.dead].lower(), res.causes


def _inventory_config(ssh_lab: SSHLab, inner: Inner, dockerd: Engine, folder: Path,
                      label: str | None) -> Path:
    """A config whose fleet is the hosts of group `web` in `folder/hosts.ini`."""
    ssh = (f"{{type: ssh, config: {{host: 'group:web', user: root, "
           f"identity_file: {ssh_lab.key}, known_hosts: {inner.known_hosts}}}}}")
    docker = f"{{type: docker, config: {{label: orch.fleet={label}, docker_host: {dockerd.host}}}}}"
    layers = [ssh_lab.layer("orch-bastion"), ssh, *([docker] if label else [])]
    path = folder / "orch.yaml"
    path.write_text("inventory: [hosts.ini]\n" + ssh_lab.config_yaml(
        extra_envs={"grp": layers}, services="  fail: {command: 'exit 3'}\n"))
    return path


@pytest.mark.parametrize("limit", ["w1,w2", "w1,w2,w3", "!w3"])
def test_a_rerun_after_a_host_left_the_inventory_runs_the_others(
        ssh_lab: SSHLab, inner_hosts: Inner, dockerd: Engine, tmp_path: Path,  # noqa: F811
        limit: str) -> None:
    """fleets20: a rerun kept its first limit, and a word naming a host since gone from the
    inventory made it a config error ("did you mean 'w2'?"): nothing ran, not even w2."""
    live, hosts = inner_hosts.live, tmp_path / "hosts.ini"
    hosts.write_text(f"[web]\nw1 ansible_host={live[0]}\nw2 ansible_host={live[1]}\n"
                     f"w3 ansible_host={live[2]}\n")
    config = _inventory_config(ssh_lab, inner_hosts, dockerd, tmp_path, None)
    with Orchestrator(load_config(config)) as orch:
        res = orch.run("grp", "fail", limit=limit)
        assert sorted(res.failed) == ["w1", "w2"] + (["w3"] if limit == "w1,w2,w3" else [])
        gone = "w3" if limit == "!w3" else "w1"
        hosts.write_text("[web]\n" + "".join(f"{name} ansible_host={address}\n" for name, address
                                             in zip(["w1", "w2", "w3"], live, strict=True)
                                             if name != gone))
        again = res.failed.rerun()
    assert {k: again[k].returncode for k in again if k != gone} == {
        k: 3 for k in res.failed if k != gone}, again.table()
    if gone in res.failed:
        assert "no longer a target" in again.causes[gone], again.causes


def test_a_rerun_says_why_a_host_s_containers_cannot_be_listed_now(
        ssh_lab: SSHLab, inner_hosts: Inner, dockerd: Engine, tmp_path: Path) -> None:  # noqa: F811
    """fleets20: the containers asked for on a host that cannot be reached now were said
    "no longer a target", hiding the host's cause (a refused connection, a changed key)."""
    live, hosts = inner_hosts.live, tmp_path / "hosts.ini"
    hosts.write_text(f"[web]\nh1 ansible_host={live[0]}\nh2 ansible_host={live[1]}\n")
    config = _inventory_config(ssh_lab, inner_hosts, dockerd, tmp_path, "again")
    with dockerd.labelled({"orch.fleet": "again"}, ["again-a", "again-b"]), \
            Orchestrator(load_config(config)) as orch:
        res = orch.run("grp", "fail", limit="*/again-a")
        assert sorted(res.failed) == ["h1/again-a", "h2/again-a"], res.table()
        hosts.write_text(f"[web]\nh1 ansible_host={inner_hosts.dead}\n"
                         f"h2 ansible_host={live[1]}\n")
        again = res.failed.rerun()
    assert sorted(again) == ["h1/again-a", "h2/again-a"], again.table()
    assert "refused" in again.causes["h1/again-a"].lower(), again.causes
    assert again["h2/again-a"].returncode == 3


def test_a_rerun_runs_a_host_still_there_that_the_limit_read_again_would_drop(
        ssh_lab: SSHLab, inner_hosts: Inner, dockerd: Engine, tmp_path: Path) -> None:  # noqa: F811
    """fleets21: `limit="web[0]"` read again after a host was added above w1 picked the new
    one, and the rerun said w1 "is no longer a target … not found" and ran nothing."""
    live, hosts = inner_hosts.live, tmp_path / "hosts.ini"
    hosts.write_text(f"[web]\nw1 ansible_host={live[0]}\nw2 ansible_host={live[1]}\n")
    config = _inventory_config(ssh_lab, inner_hosts, dockerd, tmp_path, None)
    with Orchestrator(load_config(config)) as orch:
        res = orch.run("grp", "fail", limit="web[0]")
        assert list(res.failed) == ["w1"]
        hosts.write_text(f"[web]\nw0 ansible_host={live[2]}\n" + hosts.read_text()[6:])
        again = res.failed.rerun()
    assert {k: r.returncode for k, r in again.items()} == {"w1": 3}, again.table()
