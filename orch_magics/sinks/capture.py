"""The capture sink: keeps every byte of stdout and stderr for the RunResult."""

from __future__ import annotations

from ..process.events import Event, Stderr, Stdout
from .buffer import OutputBuffer


class Capture:
    """Appends each chunk to a spilling buffer; nothing is dropped, whatever the volume."""

    def __init__(self) -> None:
        self.stdout = OutputBuffer()
        self.stderr = OutputBuffer()

    def feed(self, event: Event) -> None:
        if isinstance(event, Stdout):
            self.stdout.write(event.data)
        elif isinstance(event, Stderr):
            self.stderr.write(event.data)

    def close(self) -> None:
        pass
