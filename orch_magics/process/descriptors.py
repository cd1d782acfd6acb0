"""This process's limit of open files: raised while forwards are open (each client of one
holds descriptors, and 1,024, a common soft limit, runs out first), put back when the last
closes, and never handed to the processes started meanwhile, as Go's runtime does
(review44: a kernel's every later command ran with the raised limit)."""

from __future__ import annotations

import contextlib
import resource
import threading

_lock = threading.Lock()
_holders = 0
_before: tuple[int, int] | None = None  # the limits as they were when the first raised them


def raise_for_forward() -> None:
    """Raise the soft limit to the hard one (Linux's nr_open when that is unlimited) until the
    matching `lower_after_forward`."""
    global _holders, _before
    with _lock:
        _holders += 1
        if _holders > 1:
            return
        with contextlib.suppress(ValueError, OSError):
            soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
            want = hard if hard != resource.RLIM_INFINITY else 1 << 20
            if soft != resource.RLIM_INFINITY and soft < want:
                resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
                _before = (soft, hard)


def lower_after_forward() -> None:
    """One forward closed: the last one puts the limit back as it was."""
    global _holders, _before
    with _lock:
        _holders = max(0, _holders - 1)
        if _holders or _before is None:
            return
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, _before)
        _before = None


def for_children() -> tuple[int, int] | None:
    """The limits a process started now should get (what this one had before a forward raised
    them), or None when they are as they were."""
    return _before
