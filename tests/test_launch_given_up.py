"""A launch given up while its ssh session opens leaves nothing at the far end.

Cancelled half-way, asyncssh's `create_process` left the session open: its wrapper, sent no
preamble, waited on stdin for as long as the pooled connection lived (review42 F9), one
process and one of the host's `MaxSessions` per abandoned `await orch.launch()` or Ctrl-C.
"""

from __future__ import annotations

import asyncio
import os

import pytest

from orch_magics import Orchestrator, load_config_text
from processes import kill_all, left_after, processes_with

pytestmark = pytest.mark.ssh


async def test_a_launch_cancelled_at_any_moment_leaves_no_session_open(ssh_lab) -> None:  # type: ignore[no-untyped-def]
    mark = f"4417.{os.getpid()}"
    orch = Orchestrator(load_config_text(ssh_lab.config_yaml()))
    try:
        await (await orch.launch("loop", command="true")).wait()  # connected: the session next
        started = 0
        for step in range(200):  # from the call through the session's opening (~1 ms here)
            launching = asyncio.ensure_future(orch.launch("loop", command=["sleep", mark]))
            await asyncio.sleep(step * 0.0002)
            launching.cancel()
            try:
                handle = await launching
            except asyncio.CancelledError:
                started = 0
                continue
            await handle.stop()  # it had started: stopped as any handle is
            if (started := started + 1) == 8:  # past the opening for good
                break
        left = await asyncio.to_thread(left_after, lambda: processes_with(f"sleep\0{mark}"), 10)
        assert left == [], "an abandoned launch's process is still at the far end"
    finally:
        kill_all(processes_with(f"sleep\0{mark}"))
        await orch.aclose()
