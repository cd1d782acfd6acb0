"""A stop while a link of the chain is slow and busy (a WAN link or a VPN full of the run's
own output), from the API: the link is alive, only late.

The stop's signal reached the host at once, but its reply, the keepalive asked next and the
process's exit status all queued behind megabytes of output already in flight; after 5 s the
connection was taken for silent and closed, and the run ended as "connection lost while the
command ran; reconnected and killed process group …", its pooled connection torn down. Now
bytes received count as an answer, and the stop waits for the end while the output still
arrives: the run ends as the signal ended it.

A root login's sshd refuses `signal` requests: the kill then goes on a second channel, whose
opening is answered behind that output too. It was given up after 5 s, so the kill never
reached the host and the command ran on; now it waits while the output arrives.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time

import pytest

from links import inner_link_slow
from orch_magics.config.loader import load_config_text
from orch_magics.orchestrator import Orchestrator
from orch_magics.process.events import Exit, Stdout
from orch_magics.process.handle import FLOWING_WAIT, KILL_WAIT, SEND_WAIT, ProcessHandle
from processes import kill_all, left_after, processes_with

pytestmark = pytest.mark.ssh

#: What the output in flight at 512 kbit/s (the inner host's send buffer, up to 1 MiB, and
#: the token bucket's 2 s: 10–18 s) takes to arrive twice, before the kill and after, with
#: margin (~30 s here).
STOP_WITHIN = 50
#: Seconds of output before the stop: enough to fill what the link holds in flight.
FLOOD = 8


async def stopped_after_flood(handle: ProcessHandle) -> tuple[Exit, float]:
    """`handle` stopped (a 1 s ladder) after FLOOD s of output: how it ended, and how long the
    stop took."""
    await asyncio.sleep(FLOOD)
    started = time.monotonic()
    end = await asyncio.wait_for(handle.stop((1.0, 1.0)), 150)
    return end, time.monotonic() - started


async def test_a_stop_over_a_slow_busy_link_ends_as_the_signal_ended_it(ssh_lab) -> None:  # type: ignore[no-untyped-def]
    env, token = "two", f"76.{os.getpid()}"
    orch = Orchestrator(load_config_text(ssh_lab.config_yaml()))
    try:
        received = 0
        with inner_link_slow(ssh_lab, "512kbit"):
            handle = await asyncio.wait_for(orch.launch(env, command=f"exec yes {token}"), 60)

            async def read() -> None:
                nonlocal received
                async for event in handle.events():
                    received += len(event.data) if isinstance(event, Stdout) else 0

            reading = asyncio.ensure_future(read())
            await asyncio.sleep(FLOOD)
            started, before = time.monotonic(), received
            end = await asyncio.wait_for(handle.stop((1.0, 1.0)), 120)
            took = time.monotonic() - started
        await asyncio.wait_for(reading, 10)
        # a signal of the ladder: whichever arrived first (each queues behind the output in flight)
        assert end.error is None and end.signal in (signal.SIGINT, signal.SIGTERM, signal.SIGKILL), end
        assert received > before and took < STOP_WITHIN, (received, before, took)
        assert await asyncio.to_thread(left_after, lambda: processes_with(token), 10) == []
        again = await asyncio.wait_for(orch.arun(env, command="echo back"), 60)
        assert (again.stdout, again.returncode) == ("back\n", 0)
    finally:
        kill_all(processes_with(token))
        await orch.aclose()


async def test_a_stop_in_a_container_over_a_slow_busy_link_says_what_holds_it(
        ssh_lab, dockerd) -> None:  # type: ignore[no-untyped-def]
    """A container's signals are short execs through the engine's API, each a few round trips
    that queue behind the output in flight (~20 s each at 1 Mbit/s): the stop may run out of
    time while that output still arrives. It must then say so, not blame "a paused container,
    or a process stuck in the kernel", and the command must be gone once the link is free."""
    token = f"77.{os.getpid()}"
    orch = Orchestrator(load_config_text(ssh_lab.config_yaml(extra_envs={"deep": [
        ssh_lab.layer("orch-bastion"), ssh_lab.layer("orch-inner"), dockerd.layer()]})))
    try:
        with inner_link_slow(ssh_lab, "1mbit"):
            handle = await asyncio.wait_for(orch.launch("deep", command=f"exec yes {token}"), 60)
            reading = asyncio.ensure_future(handle.wait())
            end, took = await stopped_after_flood(handle)
        await asyncio.wait_for(reading, 10)
        said = str(end.error)
        # the ladder (2 s), KILL's waits, its signals' (SEND_WAIT) and its close's: that close
        # sends one more KILL, which may queue as long behind the link (it took 84-88 s)
        bound = 2 + KILL_WAIT + FLOWING_WAIT + 2 * SEND_WAIT + 3
        assert took < bound and "paused" not in said, (took, end)
        assert end.error is None or said.startswith(
            "its output was still arriving 70 s after SIGKILL (a slow link: its signals queue "
            "behind the output in flight): it may still be there"), end
        assert await asyncio.to_thread(left_after, lambda: processes_with(token), 45) == []
    finally:
        kill_all(processes_with(token))
        await orch.aclose()


async def test_a_quiet_run_stopped_while_another_floods_its_connection(ssh_lab) -> None:  # type: ignore[no-untyped-def]
    """A notebook where one cell tails a busy log and another, quiet, is stopped: both runs on
    one pooled connection. Before: the quiet run's kill queued behind the other's output, its
    own output counted nothing, and after 10 s the stop said "it did not end within 10 s of
    SIGKILL (a paused container, or a process stuck in the kernel): it may still be there"
    (no container in the chain; the process was gone), after up to 105 s. A signal still on
    its way now keeps the stop waiting, as the run's own output does."""
    busy, quiet = f"78.{os.getpid()}", f"79.{os.getpid()}"
    orch = Orchestrator(load_config_text(ssh_lab.config_yaml()))
    try:
        assert (await asyncio.wait_for(orch.arun("two", command="true"), 60)).ok
        with inner_link_slow(ssh_lab, "512kbit"):
            still = await asyncio.wait_for(orch.launch("two", command=f"echo up; exec sleep {quiet}"),
                                           60)
            said = still.events()
            assert await asyncio.wait_for(said.__anext__(), 30) == Stdout(b"up\n")
            flood = await asyncio.wait_for(orch.launch("two", command=f"exec yes {busy}"), 60)
            flowing = asyncio.ensure_future(flood.wait())
            end, took = await stopped_after_flood(still)
            await asyncio.wait_for(flood.stop((1.0, 1.0)), 150)
            await asyncio.wait_for(flowing, 10)
        assert end.error is None and end.signal in (signal.SIGINT, signal.SIGTERM, signal.SIGKILL), \
            (took, end)
        assert await asyncio.to_thread(left_after, lambda: processes_with(quiet), 10) == []
    finally:
        kill_all(processes_with(busy) + processes_with(quiet))
        await orch.aclose()
