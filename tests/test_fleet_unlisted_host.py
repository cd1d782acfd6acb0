"""A host of a label fleet whose containers could not be listed (unreachable when the fleet
looked): its row is the host's own, failed. It counts against `--max-fail` like any failed
target, and a rerun of it runs its containers once the host is back (held-out tester fleets3
#3, #4: the containers of the other hosts all ran under `max_fail=0`, and `res.failed.rerun()`
said the host "is no longer a target" every time, so `while not res.ok` never ended).
"""

from __future__ import annotations

import time

import pytest

from fixtures.dockerd import Engine
from fixtures.sshd import SSHLab, launch_sshd, stop_servers
from orch_magics import FleetResult, Orchestrator, load_config_text
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
