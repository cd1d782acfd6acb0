"""The processes a child started, found through /proc, so a helper given up on (a secret
command past its timeout) is ended with everything it started, in its own process group or
not: a wrapper script's `op` or `gpg` was left to init (safety14)."""

from __future__ import annotations

import contextlib
import glob
import os
import signal


def descendants(pid: int) -> list[int]:
    """Every living descendant of `pid`, parents before their children (empty where /proc
    does not list children)."""
    found: list[int] = []
    todo = [pid]
    while todo:
        parent = todo.pop()
        for listing in glob.glob(f"/proc/{parent}/task/*/children"):
            with contextlib.suppress(OSError), open(listing) as f:
                children = [int(c) for c in f.read().split()]
                found += children
                todo += children
    return found


def pipe_holders(fd: int) -> list[int]:
    """The other processes that hold the pipe `fd` is an end of: a helper a command started
    and left holding its stdout keeps the pipe open after the command ended (safety20)."""
    mark, found = f"pipe:[{os.fstat(fd).st_ino}]", []
    for entry in glob.glob("/proc/[0-9]*/fd/*"):
        with contextlib.suppress(OSError, ValueError):
            pid = int(entry.split("/")[2])
            if pid != os.getpid() and pid not in found and os.readlink(entry) == mark:
                found.append(pid)
    return found


def kill_tree(pid: int) -> None:
    """SIGKILL `pid` and its descendants: stopped first so none starts another meanwhile."""
    family = [pid, *descendants(pid)]
    for each in family:
        with contextlib.suppress(OSError):
            os.kill(each, signal.SIGSTOP)
    for each in [pid, *descendants(pid)]:
        with contextlib.suppress(OSError):
            os.kill(each, signal.SIGKILL)
