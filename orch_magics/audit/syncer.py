"""Audit records made durable off the event loop: one thread of the process fsyncs the log
files appended to, and the records written during one fsync share the next (group commit:
1,000 fleet targets ending together cost a few fsyncs, not 1,000 in a row). Pending fsyncs
are done before the process exits.
"""

from __future__ import annotations

import atexit
import os
import threading

from ..secrets.masking import get_logger


class Syncer:
    """fsyncs audit files on a thread of its own; `flush` waits for every one requested."""

    def __init__(self) -> None:
        self._reset()
        # A child forked by multiprocessing has no copy of the thread: it starts its own.
        os.register_at_fork(after_in_child=self._reset)

    def _reset(self) -> None:
        self._cond = threading.Condition()
        self._wanted: set[str] = set()
        self._busy = False
        self._thread: threading.Thread | None = None

    def request(self, path: str) -> None:
        """Make what was written to `path` so far durable, soon (not before returning)."""
        with self._cond:
            self._wanted.add(path)
            if self._thread is None:
                self._thread = threading.Thread(target=self._work, name="orch-audit-fsync",
                                                daemon=True)
                self._thread.start()
            self._cond.notify_all()

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until every requested fsync is done; False when `timeout` ran out first."""
        with self._cond:
            return self._cond.wait_for(lambda: not self._wanted and not self._busy, timeout)

    def _work(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: bool(self._wanted))
                paths, self._wanted, self._busy = self._wanted, set(), True
            for path in paths:
                try:
                    fd = os.open(path, os.O_RDONLY)
                    try:
                        os.fsync(fd)  # any descriptor of the file syncs what all of them wrote
                    finally:
                        os.close(fd)
                except OSError as exc:
                    get_logger(__name__).warning(
                        "audit: %s could not be synced to disk: %s", path, exc.strerror or exc)
            with self._cond:
                self._busy = False
                self._cond.notify_all()


#: The process's one syncer; the interpreter waits for it at exit.
SYNCER = Syncer()
atexit.register(SYNCER.flush)
