"""A fleet behind the bastion of the namespace lab: local → bastion → several inner hosts that
only the bastion reaches (three sshd addresses in the inner namespace, one address with no
server), and → the containers with a label on each inner host's engine. Each target reports
its own address (or container name); the dead one says which hop failed; stop leaves no
process on any inner host."""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from fixtures.dockerd import Engine
from fixtures.sshd import SSHLab, known_host, launch_sshd, stop_servers
from orch_magics import Orchestrator, load_config_text
from orch_magics.fleet import FleetOptions, FleetResult

pytestmark = pytest.mark.ssh

MARK = "sleep 3607"  # a command line no other test runs: what "left running" looks for


@dataclass
class Inner:
    """The inner hosts of the lab fleet: addresses with an sshd, and one without."""

    live: list[str]
    dead: str
    known_hosts: Path


@pytest.fixture(scope="module")
def inner_hosts(ssh_lab: SSHLab) -> Iterator[Inner]:
    net = ssh_lab.inner_addr.rsplit(".", 1)[0]
    extra = [f"{net}.3", f"{net}.4"]
    device = f"orchi{ssh_lab.slot}"
    for address in (*extra, f"{net}.5"):
        subprocess.run(["ip", "-n", ssh_lab.inner_ns, "addr", "add", f"{address}/24", "dev",
                        device], check=True)
    more = launch_sshd(ssh_lab.root, "more", extra[0], 22,
                       ssh_lab.sshd_config.with_lines(f"ListenAddress {extra[1]}"),
                       ssh_lab.inner_ns)
    known = ssh_lab.root / "known_hosts_fleet"
    host_pub = ssh_lab.root / "host_key.pub"
    known.write_text(ssh_lab.known_hosts.read_text() +
                     "".join(known_host(a, 22, host_pub) for a in (*extra, f"{net}.5")))
    try:
        more.wait_listening(time.monotonic() + 10)
        yield Inner([ssh_lab.inner_addr, *extra], f"{net}.5", known)
    finally:
        stop_servers([more])
        for address in (*extra, f"{net}.5"):  # the lab is shared: leave it as it was found
            subprocess.run(["ip", "-n", ssh_lab.inner_ns, "addr", "del", f"{address}/24", "dev",
                            device], check=False)


@pytest.fixture
def orch(ssh_lab: SSHLab, inner_hosts: Inner) -> Iterator[Orchestrator]:
    hosts = ", ".join([*inner_hosts.live, inner_hosts.dead])
    inner = (f"{{type: ssh, config: {{host: [{hosts}], user: root, "
             f"identity_file: {ssh_lab.key}, known_hosts: {inner_hosts.known_hosts}, "
             f"connect_timeout: 5}}}}")
    services = ("  who: {command: 'echo \"$SSH_CONNECTION\" | cut -d\" \" -f3'}\n"
                f"  sleepy: {{command: '{MARK}'}}\n")
    text = ssh_lab.config_yaml(extra_envs={"inner": [ssh_lab.layer("orch-bastion"), inner]},
                               services=services)
    o = Orchestrator(load_config_text(text))
    yield o
    o.close()


def marked() -> list[str]:
    out = subprocess.run(["pgrep", "-af", MARK], capture_output=True, text=True)
    return [line for line in out.stdout.splitlines() if "pgrep" not in line]


def test_every_inner_host_answers_through_the_bastion(orch: Orchestrator,
                                                      inner_hosts: Inner) -> None:
    res = orch.run("inner", "who")
    assert isinstance(res, FleetResult)
    assert list(res) == [*inner_hosts.live, inner_hosts.dead]
    assert {label: res[label].stdout for label in res.succeeded} == {
        a: f"{a}\n" for a in inner_hosts.live}
    cause = res.causes[inner_hosts.dead]
    assert res.states[inner_hosts.dead] == "failed"
    assert "hop 2" in cause and "refused" in cause.lower(), cause


def test_stop_leaves_nothing_on_any_inner_host(orch: Orchestrator, inner_hosts: Inner) -> None:
    live = orch.fleets.start(orch.plan("inner", "sleepy"),
                             FleetOptions(limit=f"!{inner_hosts.dead}"))
    deadline = time.monotonic() + 30
    while len(marked()) < len(inner_hosts.live):
        assert time.monotonic() < deadline, marked()
        time.sleep(0.05)
    live.stop()
    res = live.wait(30)
    assert set(res.states.values()) == {"stopped"}
    deadline = time.monotonic() + 5
    while marked() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert marked() == []


@pytest.fixture
def lab_containers(dockerd: Engine) -> Iterator[list[str]]:
    """Two running containers labelled orch.fleet=lab on the test engine."""
    with dockerd.labelled({"orch.fleet": "lab"}, ["orch-lab-a", "orch-lab-b"]) as names:
        yield names


def _apps(ssh_lab: SSHLab, hosts: list[str], inner_hosts: Inner,
          dockerd: Engine) -> Orchestrator:
    """Environment `apps`: the bastion, then `hosts` of the inner namespace, then each one's
    containers labelled orch.fleet=lab. The inner namespace shares this machine's file
    system: the engine's unix socket is what each inner host's docker layer reaches (through
    its own ssh connection)."""
    inner = (f"{{type: ssh, config: {{host: [{', '.join(hosts)}], user: root, "
             f"identity_file: {ssh_lab.key}, known_hosts: {inner_hosts.known_hosts}, "
             f"connect_timeout: 5}}}}")
    docker = f"{{type: docker, config: {{label: orch.fleet=lab, docker_host: {dockerd.host}}}}}"
    return Orchestrator(load_config_text(ssh_lab.config_yaml(
        extra_envs={"apps": [ssh_lab.layer("orch-bastion"), inner, docker]},
        services="  name: {command: 'cat /etc/hostname'}\n")))


@pytest.mark.docker
def test_bastion_then_inner_hosts_then_their_labelled_containers(
        ssh_lab: SSHLab, inner_hosts: Inner, dockerd: Engine, lab_containers: list[str]) -> None:
    with _apps(ssh_lab, inner_hosts.live, inner_hosts, dockerd) as orch:
        res = orch.run("apps", "name", limit="*/orch-lab-*")
    assert isinstance(res, FleetResult) and res.ok, res.causes
    expected = [f"{a}/{c}" for a in inner_hosts.live for c in lab_containers]
    assert list(res) == expected
    assert {label: r.stdout for label, r in res.items()} == {
        label: label.split("/")[1] + "\n" for label in expected}


@pytest.mark.docker
def test_a_host_whose_containers_cannot_be_listed_keeps_its_row_under_a_limit(
        ssh_lab: SSHLab, inner_hosts: Inner, dockerd: Engine, lab_containers: list[str]) -> None:
    """s8-fleet #2: `--limit '*/orch-lab-a'` (or the part name) dropped the row of a host
    that refused the connection, and the run said ok; naming the container under that host
    was a config error ("matches no target"). Its failed row now stays."""
    with _apps(ssh_lab, [*inner_hosts.live, inner_hosts.dead], inner_hosts, dockerd) as orch:
        for limit in ("*/orch-lab-a", "orch-lab-a", f"{inner_hosts.dead}/orch-lab-a"):
            res = orch.run("apps", "name", limit=limit)
            assert not res.ok and res.states[inner_hosts.dead] == "failed", (limit, res.states)
            assert "refused" in res.causes[inner_hosts.dead].lower()
            assert sorted(res.succeeded) == ([] if "/" in limit and limit[0] != "*" else
                                             [f"{a}/orch-lab-a" for a in inner_hosts.live])
        res = orch.run("apps", "name", limit=f"*/orch-lab-a,!{inner_hosts.dead}")
        assert res.ok and inner_hosts.dead not in res.states  # excluded by name: no row


@pytest.mark.docker
def test_a_forward_to_one_hosts_container_does_not_wait_on_another_host(
        ssh_lab: SSHLab, inner_hosts: Inner, dockerd: Engine, lab_containers: list[str]) -> None:
    """fleets26: a forward whose limit names a container of one inner host looked up every
    host's containers first, and failed when another host was down. Hosts the limit keeps
    none of are not contacted, as for a run."""
    live = inner_hosts.live[0]
    with _apps(ssh_lab, [inner_hosts.dead, live], inner_hosts, dockerd) as orch:
        fwd = orch.forward("apps", 22, host=live, limit=f"{live}/orch-lab-a")
        with socket.create_connection(("127.0.0.1", fwd.port), timeout=10) as conn:
            assert conn.recv(64).startswith(b"SSH-2.0-")  # the inner host's own sshd
        assert [f.as_row()[1] for f in orch.forwards.list()] == [f"apps [{live}/orch-lab-a]"]
        fwd.close()
        # review43: a limit leaving the down host out by name was "!… matches no target"
        fwd = orch.forward("apps", 22, host=live, limit=f"*/orch-lab-a,!{inner_hosts.dead}")
        assert [f.as_row()[1] for f in orch.forwards.list()] == [f"apps [{live}/orch-lab-a]"]
