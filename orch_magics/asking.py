"""While a person is asked something (a protected environment's name, a secret), a kernel
interrupt is a KeyboardInterrupt there, as in a plain cell.

In a cell using top-level await, ipykernel turns SIGINT into a cancellation of the cell's
task, which cannot land while the question blocks the loop: the cell waited for an answer,
then went on once one was typed (safety13: a protected run started after ■ was pressed).
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator


@contextlib.contextmanager
def interrupt_raises() -> Iterator[None]:
    """SIGINT raises KeyboardInterrupt in the block (its handler put back after); off the
    main thread, which gets no signals and may not set their handlers, nothing changes."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    before = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, before)
