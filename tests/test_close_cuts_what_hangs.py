"""A pooled resource whose close never ends (an engine that stopped answering: a containerd
shim stalled by a hundred execs ending at once, chains31) made `Orchestrator.close()` raise a
bare TimeoutError after 10 s, and left the resource open. Now what is still open is cut at
its sockets: the one whose close hung, and those whose close had not come yet.

The real fault comes and goes with the engine's timing, so a closer provokes it here."""

from __future__ import annotations

import asyncio
import time

import pytest

from orch_magics import Orchestrator, _loop, load_config_text


def test_a_close_that_hangs_is_cut_with_the_rest_and_close_returns(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """close() returns after CLOSE_WAIT s; the hung resource and the one under it (closed
    after it, as an ssh connection after the engine reached through it) are cut."""
    monkeypatch.setattr(_loop, "CLOSE_WAIT", 0.5)
    orch = Orchestrator(load_config_text("environments: {local: {layers: []}}"))
    assert orch.run("local", command="echo hi").stdout == "hi\n"  # its loop and context are up
    assert orch._bg is not None
    context = orch._contexts[orch._bg.loop]
    cut: list[str] = []

    async def closes() -> None:
        cut.append("closed, not cut")

    async def hangs() -> None:
        await asyncio.Event().wait()

    context.on_close(closes, lambda: cut.append("connection"))
    context.on_close(hangs, lambda: cut.append("engine"))
    started = time.monotonic()
    orch.close()  # raised TimeoutError, and cut nothing
    assert time.monotonic() - started >= 0.5
    assert cut == ["engine", "connection"]
    assert orch._contexts == {}
