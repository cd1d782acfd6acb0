"""Fleets of containers on the test podman, as on docker: a label selects every running
container with it (resolved at run time), a list or a range pattern names them."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from fixtures.dockerd import IMAGE
from fixtures.podman import Podman
from orch_magics import Orchestrator, load_config_text
from orch_magics.fleet import FleetResult

NAMES = [f"orch-pod-{i}" for i in range(1, 4)]
LABEL = "orch.fleet=pods"


@pytest.fixture(scope="module")
def pods(podman: Podman) -> Iterator[list[str]]:
    """Three running containers with LABEL (each named as its hostname) and a stopped one."""
    for name in NAMES:
        podman.podman("run", "-d", "--init", "--network", "none", "--name", name,
                      "--hostname", name, "--label", LABEL, IMAGE)
    podman.podman("create", "--network", "none", "--name", "orch-pod-stopped",
                  "--label", LABEL, IMAGE)
    try:
        yield NAMES
    finally:
        podman.podman("rm", "-f", "-t", "0", *NAMES, "orch-pod-stopped")


def _run(podman: Podman, config: dict[str, object], **options: object) -> FleetResult:
    layer = json.dumps({"type": "podman", "config": {**config, "podman_host": podman.host}})
    orch = Orchestrator(load_config_text(
        f"environments:\n  pods: {{layers: [{layer}]}}\n"
        "services:\n  name: {command: hostname}\n"))
    try:
        result = orch.run("pods", "name", **options)
    finally:
        orch.close()
    assert isinstance(result, FleetResult)
    return result


def test_a_label_fans_out_to_every_running_podman_container(podman: Podman,
                                                            pods: list[str]) -> None:
    res = _run(podman, {"label": LABEL})
    assert res.ok and sorted(res) == pods  # the stopped one is not a target
    assert all(res[name].stdout == f"{name}\n" for name in pods)


def test_a_podman_container_pattern_with_limit(podman: Podman, pods: list[str]) -> None:
    res = _run(podman, {"container": "orch-pod-[1:3]"}, limit="!orch-pod-2")
    assert res.ok and sorted(res) == ["orch-pod-1", "orch-pod-3"]
    assert res["orch-pod-3"].stdout == "orch-pod-3\n"



def test_a_label_fleet_whose_engine_is_unreachable_says_why_in_full(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """The whole fleet failed before any process ran (held-out tester, podman findings 3 and
    4): the run's table cut the cause at 80 characters (the socket and the hint lost), and a
    copy named the target '' in "get on 1 targets of pods"."""
    missing = tmp_path / "podman.sock"
    config = load_config_text(
        "environments:\n  pods:\n    layers:\n      - {type: podman, config: "
        f"{{label: orch.nolabel, podman_host: 'unix://{missing}'}}}}\n")
    why = (f"hop 1 (podman orch.nolabel): cannot reach the podman API at unix://{missing} on "
           f"this machine: no such socket")
    with Orchestrator(config) as orch:
        res = orch.run("pods", command="true")
        copied = orch.get("pods", "/etc/hostname", tmp_path / "got")
    assert isinstance(res, FleetResult)
    row = res.table().splitlines()[1]
    assert row.startswith("label orch.nolabel  failed") and why in row
    assert row.endswith("`systemctl --user enable --now podman.socket`)")
    assert str(copied).splitlines() == ["get on 1 target of pods: 0 ok, 1 failed",
                                        f"  label orch.nolabel: {str(res['label orch.nolabel'].exit.error)}"]


def test_a_paused_podman_container_with_the_label_is_a_target_that_fails(
        podman: Podman, pods: list[str]) -> None:
    """Held-out tester: a paused container was dropped from a label's fleet without a word
    (podman's list leaves paused ones out unless asked for all). It is a target whose row says
    it is paused, the others run, the fleet exits 1; the stopped one is still no target."""
    name = "orch-pod-paused"
    podman.podman("run", "-d", "--init", "--network", "none", "--name", name,
                  "--hostname", name, "--label", LABEL, IMAGE)
    try:
        podman.podman("pause", name)
        res = _run(podman, {"label": LABEL})
    finally:
        podman.podman("rm", "-f", "-t", "0", name)
    assert sorted(res) == sorted([*pods, name]) and res.exit_status == 1
    assert all(res[n].ok and res[n].stdout == f"{n}\n" for n in pods)
    assert str(res[name].exit.error) == f"hop 1 (podman {name}): container {name!r} is paused"


async def test_one_podman_container_by_label_alone_and_paused_is_said_so(base, podman) -> None:  # type: ignore[no-untyped-def]
    """Outside a fleet: it said "no container with label …", as if there were none."""
    from orch_magics import Command, LayeredExecutor, LayerError
    from orch_magics.config.loader import layer_spec
    from orch_magics.layers.podman import PodmanConfig

    name = "orch-pod-alone"
    podman.podman("run", "-d", "--init", "--network", "none", "--name", name,
                  "--label", "orch.alone=1", IMAGE)
    try:
        podman.podman("pause", name)
        with pytest.raises(LayerError, match=f"container {name!r} is paused$"):
            await LayeredExecutor(base, [layer_spec("podman", PodmanConfig(
                label="orch.alone=1", podman_host=podman.host))]).launch(Command.of(["true"]))
    finally:
        podman.podman("rm", "-f", "-t", "0", name)
