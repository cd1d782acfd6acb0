"""The `orch` command (entry point `orch_magics.cli:main`; also `python -m orch_magics.cli`)."""

from __future__ import annotations

import signal
import sys
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    """Load the command line and run it. A Ctrl-C while it loads (~0.1 s of imports) ends it
    as one later does, in one line: Python's own traceback is for defects."""
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:  # started as a script's `&` job:
        signal.signal(signal.SIGINT, signal.default_int_handler)  # INT stops orch all along
    try:
        from ..importing import paused_gc

        with paused_gc():  # imports allocate much and free little: see importing.py
            from .app import main as run
            from .app import warnings_in_one_line
    except KeyboardInterrupt:
        print("orch: interrupted", file=sys.stderr)
        return 128 + signal.SIGINT
    warnings_in_one_line()
    return run(argv)


__all__ = ["main"]
