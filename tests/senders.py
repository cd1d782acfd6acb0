"""A thread that sends 1 MiB pieces of input to a process that reads none, and the wait until
it is held: what a `send` bound (LiveRun's, LiveFleet's) is tested with."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from orch_magics import OrchError


class Feeder:
    """Sends `pieces` 1 MiB pieces through `send` in a thread; `sent` counts each, and ends
    with the OrchError that stopped it, if one did."""

    def __init__(self, send: Callable[[bytes], object], pieces: int) -> None:
        self.sent: list[object] = []
        self.thread = threading.Thread(target=self._feed, args=(send, pieces), daemon=True)
        self.thread.start()

    def _feed(self, send: Callable[[bytes], object], pieces: int) -> None:
        try:
            for i in range(pieces):
                send(b"x" * (1 << 20))
                self.sent.append(i)
        except OrchError as exc:
            self.sent.append(exc)

    def held(self, at_least: int, seconds: float, look: float = 1.0) -> int:
        """Wait until `at_least` pieces went, then until the count stops growing for `look`
        s (within `seconds` in all); how many went. Whether it is held is the caller's to
        judge (the thread still alive, the count below what it tried)."""
        deadline = time.monotonic() + seconds
        while len(self.sent) < at_least and time.monotonic() < deadline:
            time.sleep(0.1)  # a slow machine's pause before then is no hold
        before = -1
        while len(self.sent) != before and time.monotonic() < deadline:
            before = len(self.sent)
            time.sleep(look)
        return len(self.sent)
