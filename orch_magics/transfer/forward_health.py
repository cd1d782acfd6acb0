"""A forward's health: why its latest connection could not be carried, told to a watcher
(the CLI prints each line; `%orch forwards` shows the problem beside the forward)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from ..errors import OrchError
from ..secrets.masking import get_logger
from .connectors import reason

#: Seconds without a shortage of descriptors before a new one is said (Health.waiting).
WAIT_QUIET = 60.0


@dataclass
class Health:
    """What became of a forward's latest connection: `problem` says why it could not be
    carried (None once one is); `watcher` hears of it and of reconnects (the CLI prints them)."""

    target: str
    via: str = field(default="", repr=False)
    problem: str | None = None
    watcher: Callable[[str], None] | None = field(default=None, repr=False, compare=False)
    _waited: float | None = field(default=None, repr=False, compare=False)  # last shortage
    _refused: float | None = field(default=None, repr=False, compare=False)  # last refusal

    def carried(self) -> None:
        self.problem = None

    def failed(self, exc: BaseException) -> None:
        why = str(exc) if isinstance(exc, OrchError) else \
            f"{self.target} is not reachable from {self.via}: {reason(exc)}"
        self.problem = f"the last connection failed: {why}"
        self.tell(f"{self.problem}; still listening, the next connection tries again")

    def refused(self, why: str) -> None:
        """A client refused (another user's): said again only after WAIT_QUIET s without one,
        so a flood of them (a port scan) is one line, not one per client (kinds21)."""
        self.problem = f"the last connection failed: {why}"
        now = time.monotonic()
        if self._refused is None or now - self._refused > WAIT_QUIET:
            self.tell(f"{self.problem}; still listening, the next connection tries again")
        self._refused = now

    def cut(self, why: str) -> None:
        self.problem = f"its connections were cut: {why}"
        self.tell(f"{self.problem}; still listening, the next connection tries again")

    def waiting(self, why: str) -> None:
        """Told at each shortage of descriptors; said again only after WAIT_QUIET s without
        one: at the limit, every connection that ends lets one in and the next waits again."""
        self.problem = f"new connections wait: {why}"
        now = time.monotonic()
        if self._waited is None or now - self._waited > WAIT_QUIET:
            self.tell(f"{self.problem}; they are taken as connections end")
        self._waited = now

    def tell(self, message: str) -> None:
        """Hand `message` to the watcher; one that raises is told no more (a warning says
        so), as a sink that raises: the forward never pays for its bug."""
        watcher = self.watcher
        if watcher is not None:
            try:
                watcher(message)
            except Exception as exc:
                self.watcher = None
                get_logger(__name__).warning("a forward's watcher raised %s: %s; it is told no "
                                             "more", type(exc).__name__, exc)
