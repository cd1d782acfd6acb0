"""Helpers for tests of copies through real chains: run a script at the far end, and stop a
copy half-way as an interrupted cell does (its task cancelled while bytes flow), or `orch cp`
by a signal once its bytes are landing."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from hangup import default_hangup
from orch_magics import Orchestrator


def lab_config(ssh_lab: Any, dockerd: Any, **extra_envs: list[str]) -> str:
    """The lab's environments, `deep` (bastion → inner host → the test container) and
    `extra_envs`, as config text."""
    deep = [ssh_lab.layer("orch-bastion"), ssh_lab.layer("orch-inner"), dockerd.layer()]
    return str(ssh_lab.config_yaml(extra_envs={"deep": deep, **extra_envs}))


async def remote(orch: Orchestrator, env: str, script: str) -> str:
    """Run `script` in `env`; its stdout (fails the test if it failed)."""
    result = await orch.arun(env, command=script)
    assert result.ok, result.describe_failure()
    return result.stdout


def sparse(path: Path, size: int) -> Path:
    """`path` made a file of `size` zero bytes that takes no room on disk (a copy's source)."""
    with open(path, "wb") as f:
        f.truncate(size)
    return path


class FarFolders:
    """Folders a test makes at far ends, removed after it: the lab's hosts share this machine's
    disk, so a folder left there stays (~200 MB a test run used to pile up in /tmp)."""

    def __init__(self, orch: Orchestrator) -> None:
        self.orch = orch
        self.made: list[tuple[str, str]] = []

    async def folder(self, env: str, name: str, big: int | None = None) -> str:
        """/tmp/orch-NAME-PID made afresh in `env`; with `big`, holding `big`: that many zeros."""
        path = f"/tmp/orch-{name}-{os.getpid()}"
        self.made.append((env, path))
        fill = f" && head -c {big} /dev/zero > {path}/big" if big is not None else ""
        await remote(self.orch, env, f"rm -rf {path}; mkdir -p {path}{fill}")
        return path

    async def remove(self) -> None:
        for env, path in self.made:
            await self.orch.arun(env, command=f"chmod -R u+rwx {path}; rm -rf {path}")


class Recorded:
    """A Progress that keeps what it was told."""

    def __init__(self) -> None:
        self.label: str | None = None
        self.total: int | None = None
        self.done = 0

    def start(self, label: str, total: int | None) -> None:
        self.label, self.total = label, total

    def update(self, done: int) -> None:
        self.done = done

    def finish(self, ok: bool) -> None:
        pass


class CancelAt:
    """A progress that cancels the copy's task once `at` bytes have gone by: `seen` is the
    last count it was given, `fired` the monotonic time it cancelled."""

    def __init__(self, at: int) -> None:
        self.at = at
        self.task: asyncio.Future[object] | None = None
        self.loop = asyncio.get_running_loop()
        self.seen = 0
        self.fired: float | None = None
        self.ended: bool | None | str = "not yet"  # what `finish` was told

    def start(self, label: str, total: int | None) -> None:
        pass

    def update(self, done: int) -> None:
        self.seen = done
        if done >= self.at and self.task is not None and self.fired is None:
            self.fired = time.monotonic()
            self.loop.call_soon_threadsafe(self.task.cancel)

    def finish(self, ok: bool | None) -> None:
        self.ended = ok


async def cancelled_at(at: int, copy: Callable[[CancelAt], Awaitable[object]]) -> CancelAt:
    """Start `copy(progress)`, cancel it once `at` bytes have gone by, and check that it ended
    cancelled; the progress tells when and where."""
    progress = CancelAt(at)
    progress.task = asyncio.ensure_future(copy(progress))
    with pytest.raises(asyncio.CancelledError):
        await progress.task
    assert progress.ended is None  # browser21: the bar said "failed" where it was interrupted
    return progress


def receiving(pid: int, folder: Path) -> bool:
    """Whether process `pid` has a file open in `folder` that holds bytes: a get receives
    into one with no name yet (O_TMPFILE, `#INODE (deleted)` in /proc), or, where the file
    system has none, under a hidden temporary name."""
    for fd in os.listdir(f"/proc/{pid}/fd"):
        with contextlib.suppress(OSError):  # closed meanwhile
            if (os.readlink(f"/proc/{pid}/fd/{fd}").startswith(f"{folder}/")
                    and os.stat(f"/proc/{pid}/fd/{fd}").st_size > 0):
                return True
    return False


def stop_cli_copy(argv: list[str], begun: Callable[[int], bool], sig: signal.Signals
                  ) -> subprocess.CompletedProcess[str]:
    """`orch ARGV` sent `sig` once `begun(its pid)` says bytes are landing; what it exited
    with."""
    child = subprocess.Popen([sys.executable, "-m", "orch_magics.cli", *argv],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             preexec_fn=default_hangup)
    deadline = time.monotonic() + 60
    while not begun(child.pid) and child.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    child.send_signal(sig)
    out, err = child.communicate(timeout=60)
    return subprocess.CompletedProcess(argv, child.returncode, out, err)
