"""Whether a process id is in use: what a file or folder a process left, named by its pid,
is judged by (removed or set aside once that process is gone)."""

from __future__ import annotations

import os


def alive(pid: int) -> bool:
    """True while `pid` is a process (another user's too: it cannot be signalled, it is)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True
