"""A pooled resource whose close never ends (an engine that stopped answering: a containerd
shim stalled by a hundred execs ending at once, chains31) made `Orchestrator.close()` raise a
bare TimeoutError after 10 s, and left the resource open. Now it is cut at its sockets.

The real fault comes and goes with the engine's timing, so a resource provokes it here."""

from __future__ import annotations

import asyncio
import time

import pytest

from orch_magics import Orchestrator, _loop, load_config_text


class _Hung:
    """A LaunchContext whose close waits for ever; says whether it was cut."""

    def __init__(self) -> None:
        self.cut_at: float | None = None

    async def aclose(self) -> None:
        await asyncio.Event().wait()

    def cut(self) -> None:
        self.cut_at = time.monotonic()


def test_a_close_that_hangs_is_cut_and_close_returns(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_loop, "CLOSE_WAIT", 0.5)
    orch = Orchestrator(load_config_text("environments: {local: {layers: []}}"))
    assert orch.run("local", command="echo hi").stdout == "hi\n"  # its own loop is up
    hung = _Hung()
    assert orch._bg is not None
    orch._contexts[orch._bg.loop] = hung  # type: ignore[assignment]
    started = time.monotonic()
    orch.close()  # raised TimeoutError
    assert hung.cut_at is not None and hung.cut_at - started >= 0.5
    assert orch._contexts == {}
