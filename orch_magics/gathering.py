"""Wait for many coroutines as `asyncio.gather` does, but never return before all have ended.

`gather` raises at its first child's cancellation or error while the others still run their
clean-up: a fleet copy stopped by Ctrl-C returned while a target's copy was still removing
its temporary file, and `orch cp` exited with the file left and "nothing was kept" said.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Sequence
from typing import TypeVar

T = TypeVar("T")


async def gather_all(*awaitables: Awaitable[T]) -> list[T]:
    """Every result, in order, once every child has ended. Cancelled, it cancels them all and
    waits for them; the first error (in order) is raised once all have ended."""
    tasks = [asyncio.ensure_future(a) for a in awaitables]
    if not tasks:
        return []
    try:
        await asyncio.wait(tasks)
    except asyncio.CancelledError:
        for task in tasks:
            task.cancel()
        while not all(task.done() for task in tasks):
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait(tasks)
        _retrieve(tasks)
        raise
    errors = _retrieve(tasks)
    if errors:
        raise errors[0]
    return [task.result() for task in tasks]


def _retrieve(tasks: Sequence[asyncio.Future[T]]) -> list[BaseException]:
    """The children's errors, each retrieved (an unretrieved one prints a traceback)."""
    return [exc for task in tasks if (exc := _error(task)) is not None]


def _error(task: asyncio.Future[T]) -> BaseException | None:
    return asyncio.CancelledError() if task.cancelled() else task.exception()
