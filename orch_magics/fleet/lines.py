"""A sink cutting one target's output into `label | line` texts for a callback."""

from __future__ import annotations

from collections.abc import Callable

from ..process.events import Event, Stderr, Stdout


class LabelledLines:
    """Calls `add(is_stderr, "label | line")` for each complete line (and the rest at close)."""

    def __init__(self, label: str, add: Callable[[bool, str], None], width: int = 0) -> None:
        self.prefix = f"{label:<{width}} | "
        self._add = add
        self._partial = {False: "", True: ""}

    def feed(self, event: Event) -> None:
        if isinstance(event, (Stdout, Stderr)):
            is_err = isinstance(event, Stderr)
            text = self._partial[is_err] + event.data.decode("utf-8", "replace")
            *lines, self._partial[is_err] = text.split("\n")
            for line in lines:
                self._add(is_err, self.prefix + line)

    def close(self) -> None:
        for is_err, rest in self._partial.items():
            if rest:
                self._add(is_err, self.prefix + rest)
        self._partial = {False: "", True: ""}
