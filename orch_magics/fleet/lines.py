"""A sink cutting one target's output into `label | line` texts for a callback, per chunk."""

from __future__ import annotations

import codecs
from collections.abc import Callable

from ..process.events import Event, Stderr, Stdout

#: Called with (is_stderr, the labelled complete lines of one chunk).
AddLines = Callable[[bool, list[str]], None]


class LabelledLines:
    """Calls `add(is_stderr, ["label | line", …])` once per chunk with the lines it completes
    (and the rest at close). `keep`: only the last `keep` lines of a chunk are built — a
    bounded view needs no more, and a flood of short lines costs per chunk, not per line."""

    def __init__(self, label: str, add: AddLines, width: int = 0,
                 keep: int | None = None) -> None:
        self.prefix = f"{label:<{width}} | "
        self._add = add
        self._keep = keep
        self._partial = {False: "", True: ""}
        self._decoders = {kind: codecs.getincrementaldecoder("utf-8")("replace")
                          for kind in (False, True)}

    def feed(self, event: Event) -> None:
        if isinstance(event, (Stdout, Stderr)):
            is_err = isinstance(event, Stderr)
            text = self._partial[is_err] + self._decoders[is_err].decode(event.data)
            done, newline, self._partial[is_err] = text.rpartition("\n")
            if newline:
                lines = done.split("\n") if self._keep is None else \
                    done.rsplit("\n", self._keep)[-self._keep:]
                self._add(is_err, [self.prefix + line for line in lines])

    def close(self) -> None:
        for is_err, rest in self._partial.items():
            rest += self._decoders[is_err].decode(b"", final=True)
            if rest:
                self._add(is_err, [self.prefix + rest])
        self._partial = {False: "", True: ""}
