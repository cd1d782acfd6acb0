"""Helpers for tests that check what a run left running: every hop and container of the
fixtures runs on this machine's kernel, so /proc sees their processes."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")


def processes_with(token: str, netns: str | None = None, *, zombies: bool = True) -> list[int]:
    """Pids whose argv contains `token`: only those in network namespace `netns` if given,
    and without the ones already dead but not yet reaped unless `zombies`."""
    want = os.stat(f"/run/netns/{netns}").st_ino if netns else None
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if token.encode() not in (entry / "cmdline").read_bytes():
                continue
            if want is not None and os.stat(entry / "ns" / "net").st_ino != want:
                continue
            if not zombies and (entry / "stat").read_text().rsplit(")", 1)[1].split()[0] == "Z":
                continue
        except (OSError, IndexError):
            continue
        found.append(int(entry.name))
    return found


async def gone(token: str, *, zombies: bool = True) -> list[int]:
    """Pids still running `token` once a last signal has landed (polls up to 5 s); zombies
    count as still running unless `zombies` is false."""
    left: list[int] = []
    for _ in range(50):
        left = processes_with(token, zombies=zombies)
        if not left:
            return []
        await asyncio.sleep(0.1)
    return left


def left_after(found: Callable[[], list[T]], within: float = 5.0) -> list[T]:
    """What `found()` still lists after `within` seconds, or [] as soon as it lists nothing:
    a stopped process's parents reap it a moment after the run reported its end."""
    deadline = time.monotonic() + within
    while (left := found()) and time.monotonic() < deadline:
        time.sleep(0.05)
    return left


def kill_all(pids: list[int]) -> None:
    """SIGKILL these pids (those already gone are skipped): a test's own clean-up."""
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
