"""Signals to process groups in a container, sent together: one exec signals every group
waiting for the same container and user when it starts, and sweeps their sessions in one scan.

Each signal was an exec, and an engine runs execs at some tens a second: 180 runs stopped at
once (an Orchestrator closed, a fleet stopped) queued 540 of them, so SIGKILL came after the
stop had given up and said the runs "may still be there" (chains31).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from ..process.handle import retrieved
from .session_sweep import groups_line

#: Groups one exec signals at most.
BATCH = 64
#: Seconds a signal exec may take.
SIGNAL_TIMEOUT = 10.0

#: Runs a shell script in a container as a user: (container, user, script).
Run = Callable[[str, str, str], Awaitable[None]]
#: Groups waiting for their exec, each with the future its sender awaits.
Waiting = list[tuple[tuple[int, int], asyncio.Future[None]]]


class SignalBatches:
    """Signals process groups in containers, those waiting for the same place in one exec;
    while one runs, the next ones wait and go together. An exec's error is each group's."""

    def __init__(self, run: Run) -> None:
        self._run = run
        self._waiting: dict[tuple[str, str], Waiting] = {}
        self._drains: dict[tuple[str, str], asyncio.Task[None]] = {}

    async def send(self, container: str, user: str, pgid: int, sig: int) -> None:
        """Send `sig` to group `pgid` (and the rest of its session) in `container` as `user`."""
        key = (container, user)
        done = asyncio.get_running_loop().create_future()
        done.add_done_callback(retrieved)  # its sender may have given up waiting
        self._waiting.setdefault(key, []).append(((pgid, sig), done))
        if key not in self._drains:
            self._drains[key] = asyncio.ensure_future(self._drain(key))
        await asyncio.shield(done)  # a sender giving up leaves the others' exec alone

    async def _drain(self, key: tuple[str, str]) -> None:
        batch: Waiting = []
        try:
            while waiting := self._waiting.get(key):
                batch, self._waiting[key] = waiting[:BATCH], waiting[BATCH:]
                script = groups_line([group for group, _ in batch])
                try:
                    await asyncio.wait_for(self._run(*key, script), SIGNAL_TIMEOUT)
                except Exception as exc:  # each sender judges its own (a container gone)
                    _settle(batch, exc)
                else:
                    _settle(batch, None)
        finally:  # cancelled (its loop closing): no sender waits for ever
            for _, done in [*batch, *self._waiting.pop(key, [])]:
                done.cancel()
            del self._drains[key]


def _settle(batch: Waiting, error: Exception | None) -> None:
    for _, done in batch:
        if done.done():
            continue
        if error is None:
            done.set_result(None)
        else:
            done.set_exception(error)
