"""The sink contract: something that receives a run's events as they happen."""

from __future__ import annotations

from typing import Protocol

from ..process.events import Event


class Sink(Protocol):
    """Receives every event of a run in order; must be quick (it runs on the event loop)."""

    def feed(self, event: Event) -> None: ...

    def close(self) -> None: ...
