"""How many runs share this process's memory now, so that each buffers only its share.

A fleet sets RUNS_AT_ONCE to its --parallel for its targets' tasks (a context variable: each
task sees its caller's). Buffers that hold a run's output until it is read (the handle's
queue, an SSH channel's window) are sized from it: 250 chatty targets with one run's buffers
each held 1.26 GB in the controller (fleets9).
"""

from __future__ import annotations

import contextvars

RUNS_AT_ONCE: contextvars.ContextVar[int] = contextvars.ContextVar("orch_runs_at_once",
                                                                   default=1)


def share(whole: int, least: int) -> int:
    """`whole` divided among the runs going at once, at least `least` (at most `whole`)."""
    return max(least, min(whole, whole // max(1, RUNS_AT_ONCE.get())))
