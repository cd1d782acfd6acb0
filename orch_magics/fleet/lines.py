"""A sink cutting one target's output into `label | line` texts for a callback, per chunk."""

from __future__ import annotations

import threading
from collections.abc import Callable

from ..process.events import Event, Stderr, Stdout
from ..sinks.lines import BS, CR, MAX_PARTIAL, CutLine, LineDecoder, strip_ending, terminal_view
from ..text import padded

#: Called with (is_stderr, the labelled complete lines of one chunk): each a `str`, or a
#: `CutLine` for a line longer than MAX_PARTIAL (`.marked()` says what is missing).
AddLines = Callable[[bool, list[str]], None]
#: Bytes of each stream held while hurrying (a stop is on), labelled at close.
HELD = 1 << 20
#: What ends a line that holds an escape sequence: every colour and attribute off.
ESC, RESET = "\x1b", "\x1b[0m"


class LabelledLines:
    """Calls `add(is_stderr, ["label | line", …])` once per chunk with the lines it completes
    (and the rest at close), by the one line model (`sinks.lines`: `ERROR\\r\\n` is `ERROR`; a
    line longer than MAX_PARTIAL keeps its start and end, as a CutLine). A line is given as a
    terminal shows it (`10%\\r100%` is `100%`): its `\\r` can neither hide its label nor paint
    another target's. `keep`: only the last `keep` lines of a chunk are built — a bounded view
    needs no more, and a flood of short lines costs per chunk, not per line. While `hurry()`
    (a stop is on, for a bounded view) chunks are only held, their last `HELD` bytes labelled
    at close: output queued before the stop never delays it."""

    def __init__(self, label: str, add: AddLines, width: int = 0,
                 keep: int | None = None, hurry: Callable[[], bool] = lambda: False,
                 steps: AddLines | None = None) -> None:
        self.prefix = f"{padded(label, width)} | "
        self._add = add
        self._steps = steps  # where the pre/post commands' lines go, when not with the rest
        self._label, self._width = label, width
        self._keep = keep
        self._hurry = hurry
        self._held = {False: bytearray(), True: bytearray()}
        self._lost = {False: 0, True: 0}  # bytes the hold dropped from its start
        self._decoders = {kind: LineDecoder(MAX_PARTIAL) for kind in (False, True)}
        self._lock = threading.Lock()  # `pending` reads the decoders from another thread

    def for_steps(self) -> LabelledLines:
        """The sink of the pre/post commands' output: labelled lines given to `steps` (a
        headless cell bounds them on their own, as one run's: fleets23), else to `add`."""
        if self._steps is None:
            return self
        return LabelledLines(self._label, self._steps, self._width, self._keep, self._hurry)

    def feed(self, event: Event) -> None:
        if isinstance(event, (Stdout, Stderr)):
            is_err = isinstance(event, Stderr)
            if self._hurry():
                self._hold(is_err, event.data)
            else:
                self._lines(is_err, event.data)

    def _lines(self, is_err: bool, data: bytes, final: bool = False) -> None:
        decoder = self._decoders[is_err]
        with self._lock:
            lines = decoder.feed(data, final) if self._keep is None else \
                decoder.feed_last(data, self._keep, final)[2]
        if lines:
            self._add(is_err, [self._labelled(line) for line in lines])

    def _labelled(self, line: str) -> str:
        """`label | line`, with the colours the line set reset at its end, so that a target's
        colour (black on black, concealed) paints neither the next label nor orch's table
        (fleets23)."""
        reset = RESET if ESC in line else ""
        if isinstance(line, CutLine):
            if CR in line or BS in line:
                line = line.shown()
            widest, col = line.reach
            return CutLine(self.prefix + line + reset, line.dropped, len(self.prefix) + line.at,
                           (len(self.prefix) + widest, len(self.prefix) + col))
        return self.prefix + (terminal_view(line) if CR in line or BS in line else line) + reset

    def pending(self) -> list[str]:
        """The labelled lines being written, not ended yet (a prompt waiting for its answer,
        a `\r` progress bar's last state), as a single run's `logs` shows them (fleets24)."""
        with self._lock:
            texts = [decoder.partial for decoder in self._decoders.values()]
        return [self._labelled(text) for text in texts if text.rpartition("\r")[2]]

    def _hold(self, is_err: bool, data: bytes) -> None:
        held = self._held[is_err]
        held += data
        if len(held) > HELD:
            self._lost[is_err] += len(held) - HELD
            del held[:len(held) - HELD]

    def close(self) -> None:
        for is_err, held in self._held.items():
            data, lost = bytes(held), self._lost[is_err]
            held.clear()
            if lost:  # the start of its first line is gone: from the next one, if one ends
                newline = data.find(b"\n")
                if not 0 <= newline < len(data) - 1:
                    self._line_end(is_err, data, lost)
                    continue
                data = data[newline + 1:]
                self._decoders[is_err] = LineDecoder(MAX_PARTIAL)
            self._lines(is_err, data, final=True)

    def _line_end(self, is_err: bool, data: bytes, lost: int) -> None:
        """The end of a line whose start the hold dropped (a stop's last words, a dump): its
        last MAX_PARTIAL // 2 characters, marked with how many came before them."""
        start = next((i for i in range(min(4, len(data))) if data[i] & 0xC0 != 0x80), 0)
        text = strip_ending(data[start:].decode("utf-8", "replace").removesuffix("\n"))
        end = text[-(MAX_PARTIAL // 2):]
        self._add(is_err, [self._labelled(CutLine(end, lost + start + len(text) - len(end), 0))])
