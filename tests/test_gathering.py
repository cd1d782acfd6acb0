"""Many copies or targets at once end together: stopped, a fleet copy returned while a
target's copy was still removing its temporary file, and `orch cp` exited leaving it."""

from __future__ import annotations

import asyncio

import pytest

from orch_magics.gathering import gather_all


async def _cleans_up(name: str, cleaned: list[str], slow: float) -> str:
    try:
        await asyncio.sleep(60)
        return name
    finally:
        await asyncio.sleep(slow)  # a clean-up that takes a while (a file removed in a thread)
        cleaned.append(name)


async def test_cancelled_it_returns_only_once_every_child_has_cleaned_up() -> None:
    cleaned: list[str] = []
    waiting = asyncio.ensure_future(gather_all(
        _cleans_up("quick", cleaned, 0), _cleans_up("slow", cleaned, 0.3)))
    await asyncio.sleep(0.05)
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    assert sorted(cleaned) == ["quick", "slow"]


async def test_a_failing_child_is_raised_once_the_others_have_ended() -> None:
    ended: list[str] = []

    async def fails() -> str:
        raise ValueError("this target failed")

    async def finishes() -> str:
        await asyncio.sleep(0.2)
        ended.append("other")
        return "other"

    with pytest.raises(ValueError, match="this target failed"):
        await gather_all(fails(), finishes())
    assert ended == ["other"]


async def test_results_come_back_in_order() -> None:
    async def after(delay: float, value: int) -> int:
        await asyncio.sleep(delay)
        return value

    assert await gather_all(after(0.05, 1), after(0, 2), after(0.02, 3)) == [1, 2, 3]
    assert await gather_all() == []
