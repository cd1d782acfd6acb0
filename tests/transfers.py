"""Helpers for tests of copies through real chains: run a script at the far end, and stop a
copy half-way as an interrupted cell does (its task cancelled while bytes flow)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import pytest

from orch_magics import Orchestrator


async def remote(orch: Orchestrator, env: str, script: str) -> str:
    """Run `script` in `env`; its stdout (fails the test if it failed)."""
    result = await orch.arun(env, command=script)
    assert result.ok, result.describe_failure()
    return result.stdout


async def big_remote_file(orch: Orchestrator, env: str, folder: str, size: int) -> None:
    """`folder` made afresh in `env`, holding `big`: `size` zero bytes."""
    await remote(orch, env, f"rm -rf {folder}; mkdir -p {folder} && "
                            f"head -c {size} /dev/zero > {folder}/big")


class CancelAt:
    """A progress that cancels the copy's task once `at` bytes have gone by: `seen` is the
    last count it was given, `fired` the monotonic time it cancelled."""

    def __init__(self, at: int) -> None:
        self.at = at
        self.task: asyncio.Future[object] | None = None
        self.loop = asyncio.get_running_loop()
        self.seen = 0
        self.fired: float | None = None

    def start(self, label: str, total: int | None) -> None:
        pass

    def update(self, done: int) -> None:
        self.seen = done
        if done >= self.at and self.task is not None and self.fired is None:
            self.fired = time.monotonic()
            self.loop.call_soon_threadsafe(self.task.cancel)

    def finish(self, ok: bool) -> None:
        pass


async def cancelled_at(at: int, copy: Callable[[CancelAt], Awaitable[object]]) -> CancelAt:
    """Start `copy(progress)`, cancel it once `at` bytes have gone by, and check that it ended
    cancelled; the progress tells when and where."""
    progress = CancelAt(at)
    progress.task = asyncio.ensure_future(copy(progress))
    with pytest.raises(asyncio.CancelledError):
        await progress.task
    return progress
