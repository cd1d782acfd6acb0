"""A hop whose pooled connection goes silent (the host crashed, a link or a VPN dropped: no
reset, packets just vanish) between runs: the next run names that hop, not the one behind it,
and does not wait for the engine client's 60 s; once the link is back, runs work again."""

from __future__ import annotations

import asyncio

import pytest

from links import outer_link_down
from orch_magics.config.loader import load_config_text
from orch_magics.errors import LayerError
from orch_magics.orchestrator import Orchestrator

pytestmark = pytest.mark.ssh


@pytest.mark.parametrize("pause", [0.0, 1.5], ids=["at-once", "after-idle"])
@pytest.mark.parametrize("env", ["two", "deep"])
async def test_a_silent_bastion_is_named_as_the_hop_that_went_away(ssh_lab, dockerd, env: str,  # type: ignore[no-untyped-def]
                                                                   pause: float) -> None:
    deep = [ssh_lab.layer("orch-bastion"), ssh_lab.layer("orch-inner"), dockerd.layer()]
    orch = Orchestrator(load_config_text(ssh_lab.config_yaml(extra_envs={"deep": deep})))
    try:
        assert (await orch.arun(env, command="echo warm")).stdout == "warm\n"
        await asyncio.sleep(pause)
        with outer_link_down(ssh_lab):
            with pytest.raises(LayerError) as raised:
                await asyncio.wait_for(orch.arun(env, command="echo again"), 40)
        assert str(raised.value).startswith("hop 1 (ssh orch-bastion): "), raised.value
        assert "orch-inner" not in str(raised.value) and "Pool" not in str(raised.value)
        result = await asyncio.wait_for(orch.arun(env, command="echo back"), 40)
        assert (result.stdout, result.returncode) == ("back\n", 0)
    finally:
        await orch.aclose()


async def test_runs_starting_together_through_a_docker_hop_share_its_connections(ssh_lab,  # type: ignore[no-untyped-def]
                                                                                  dockerd) -> None:
    """Asking a hop whether it answers while another run connects it used to end a run with
    IndexError and leave a connection open that nobody closed."""
    deep = [ssh_lab.layer("orch-bastion"), ssh_lab.layer("orch-inner"), dockerd.layer()]
    orch = Orchestrator(load_config_text(ssh_lab.config_yaml(extra_envs={"deep": deep})))
    try:
        results = await asyncio.wait_for(asyncio.gather(
            *(orch.arun("deep", command=f"echo {n}") for n in range(4))), 60)
        assert [(r.stdout, r.returncode) for r in results] == [(f"{n}\n", 0) for n in range(4)]
    finally:
        await orch.aclose()


async def test_the_warden_of_a_connection_set_aside_ends_once_its_runs_have(ssh_lab,  # type: ignore[no-untyped-def]
                                                                            dockerd) -> None:
    """A container's warden rides on the connection pooled when it started. Once that hop
    went silent and the engine is reached over a new connection, the old warden (listing no
    run) used to stay, with its connection, until the orchestrator closed: one more of each
    per reconnect in a long kernel."""
    deep = [ssh_lab.layer("orch-bastion"), ssh_lab.layer("orch-inner"), dockerd.layer()]
    orch = Orchestrator(load_config_text(ssh_lab.config_yaml(extra_envs={"deep": deep})))

    def wardens() -> list[str]:
        return [p for p in dockerd.container_processes("orch-test") if "while read -r p" in p]

    try:
        assert (await orch.arun("deep", command="echo warm")).stdout == "warm\n"
        first = wardens()
        assert first, "the first run in the container starts its warden"
        with outer_link_down(ssh_lab):
            with pytest.raises(LayerError):
                await asyncio.wait_for(orch.arun("deep", command="echo again"), 40)
        result = await asyncio.wait_for(orch.arun("deep", command="echo back"), 40)
        assert (result.stdout, result.returncode) == ("back\n", 0)
        deadline = asyncio.get_running_loop().time() + 30
        while [p for p in wardens() if p in first] and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.2)
        assert [p for p in wardens() if p in first] == []
        deadline = asyncio.get_running_loop().time() + 15  # its shell and the wrapper's start
        while len(wardens()) != len(first) and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.1)  # a moment apart
        assert len(wardens()) == len(first), "the new connection's warden runs"
    finally:
        await orch.aclose()
