"""Masking a run's output as it streams, when a secret's form may be cut between two chunks.

Per stream, the longest end of the data seen so far that is the beginning of a form is held
back; it is released (masked or not) when the next chunk shows how it goes on, or at the Exit
event. Output that cannot start a form passes with no delay, so prompts of interactive programs
still show at once.

A held end may run over line breaks only where an encoder's wrapped output could: when the line
it starts on is made of base64 characters alone and is at least `MIN_WRAP` long. So an ordinary
line (`done`, `result: ok`) is never held back by its line ending.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..process.events import Event, Exit, Stderr, Stdout
from .escapes import UNFINISHED, original, without_escapes
from .forms import B64_CHARS, BREAKS, FormSet, FormSource, blank_bytes

#: The shortest line of wrapped base64 output a held end may run over.
MIN_WRAP = 16
#: How far back a line is looked at to tell whether it is base64 output.
_LINE_LOOK = 4096

Kind = type[Stdout] | type[Stderr]


class StreamMasker:
    """Masks Stdout/Stderr chunks of one run; a pure event → events transform."""

    def __init__(self, source: FormSource) -> None:
        self._source = source
        self._pending: dict[Kind, bytes] = {Stdout: b"", Stderr: b""}
        # base64 characters at the end of the current line of what was released (-1: other text)
        self._column: dict[Kind, int] = {Stdout: 0, Stderr: 0}

    def __call__(self, event: Event) -> list[Event]:
        if isinstance(event, (Stdout, Stderr)):
            kind = type(event)
            out = self._mask(kind, self._pending[kind] + event.data)
            return [*self._lines_held(Stderr if kind is Stdout else Stdout),
                    *([kind(out)] if out else [])]
        if isinstance(event, Exit):
            return [*self.flush(), event]
        return [event]

    def _lines_held(self, kind: Kind) -> list[Event]:
        """What `kind` holds, released when the other stream speaks, if that is safe: it ends
        a line, holds a whole form (masked now) and nothing after it may begin one, raw or
        wrapped (notebook16: `b=SECRET\\n`, held as the start of a wrapped encoded form, came
        after the stderr line written after it). The first line of a wrapped form stays held
        (review24: released, it went out in clear, and the rest matched nothing)."""
        rest, forms = self._pending[kind], self._source.forms
        if not rest.endswith(b"\n") or forms is None:
            return []
        masked = forms.mask_bytes(rest)
        if masked == rest or longest_start(masked, forms.forms) or longest_start(
                masked.translate(None, BREAKS), forms.encoded):
            return []
        self._pending[kind], self._column[kind] = b"", 0
        return [kind(masked)]

    def flush(self) -> list[Event]:
        """Release what is held back (masked) at the end of the streams."""
        out: list[Event] = []
        forms = self._source.forms
        for kind, rest in self._pending.items():
            if rest:
                out.append(kind(forms.mask_bytes(rest) if forms is not None else rest))
            self._pending[kind] = b""
        return out

    def _mask(self, kind: Kind, data: bytes) -> bytes:
        """`data` masked, except its end that may begin a form: that is held as pending."""
        forms = self._source.forms
        if forms is None:
            self._pending[kind] = b""
            return data
        parts: list[bytes] = []
        pos = hold = 0
        size = len(data)
        # where the longest form that may still run on past this chunk begins: a span from
        # there on is held with it (review20: a URL holding a password also known on its own,
        # cut after the password, left `postgres://app:****@…` shown)
        tail = data[max(0, size - forms.window):]
        open_from = size - max(longest_start(tail, forms.forms),
                               self._wrapped_hold(forms, kind, data, 0))
        wide = data[max(0, size - forms.window - ESCAPES_ROOM):]  # sequences take room too
        if b"\x1b" in wide:  # a start with escape sequences in it, or one unfinished
            open_from = min(open_from, size - len(wide) + held_through_escapes(wide, forms.forms))
        for start, end in forms.spans(forms.bytes_re, data):
            if end > open_from or size - start < forms.window and (
                    may_continue(forms, data[start:])  # a longer form (padding, a wrapped line)
                    or longest_start(data[start + 1:], forms.forms)):  # or one
                hold = size - min(start, open_from)  # starting inside it and running on
                break
            parts += (data[pos:start], blank_bytes(data[start:end]))
            pos = end
        else:
            hold = size - max(pos, open_from)
        parts.append(data[pos:size - hold])
        self._pending[kind] = data[size - hold:]
        self._column[kind] = self._line_column(kind, data, size - hold)
        return b"".join(parts)

    def _wrapped_hold(self, forms: FormSet, kind: Kind, data: bytes, start: int) -> int:
        """The longest end of `data[start:]` that may begin a wrapped encoded form."""
        lo = max(start, len(data) - forms.window)
        while True:
            tail = data[lo:]
            stripped = tail.translate(None, BREAKS)
            if len(stripped) == len(tail):
                return 0  # no line break: longest_start has seen it
            k = longest_start(stripped, forms.encoded)
            if not k:
                return 0
            begin = lo + len(tail) - _span(tail, k)
            brk = _first_break(data, begin)
            if brk < 0 or self._line_column(kind, data, brk) >= MIN_WRAP:
                return len(data) - begin
            lo = brk + 1  # that line is not wrapped output: a start can only come after it

    def _line_column(self, kind: Kind, data: bytes, end: int) -> int:
        """Base64 characters from the start of the line to `data[end]` (-1: other text too)."""
        low = max(0, end - _LINE_LOOK)
        brk = max(data.rfind(b"\n", low, end), data.rfind(b"\r", low, end))
        segment = data[brk + 1 if brk >= 0 else low:end]
        base = self._column[kind] if brk < 0 and low == 0 else 0
        if base < 0 or segment.translate(None, B64_CHARS):
            return -1
        return base + len(segment)


def longest_start(tail: bytes, forms: Sequence[bytes]) -> int:
    """Length of the longest end of `tail` that begins (and is shorter than) one of `forms`."""
    size = len(tail)
    best = 0
    last = tail[-1:]
    for form in forms:
        if not best and last and form[:1] == last and len(form) > 1:
            best = 1
        needle = form[:2]
        j = tail.find(needle, max(0, size - len(form) + 1))
        while j != -1 and size - j > best:
            if form.startswith(tail[j:]):
                best = size - j
                break
            j = tail.find(needle, j + 1)
    return best


#: Bytes of escape sequences looked back over, beside a form's own length, for a start of
#: one at a chunk's end (review29: an OSC 8 link inside a secret is longer than the secret).
ESCAPES_ROOM = 4096


def held_through_escapes(tail: bytes, forms: Sequence[bytes]) -> int:
    """Where in `tail` an end begins that may begin a form with escape sequences between its
    characters, or an escape sequence not finished yet; len(tail) when none does."""
    cut = m.start() if (m := UNFINISHED.search(tail)) is not None else len(tail)
    plain, kept_at, from_at = without_escapes(tail[:cut])
    k = longest_start(plain, forms)
    return min(cut, original((len(plain) - k, len(plain)), kept_at, from_at)[0]) if k else cut


def may_continue(forms: FormSet, rest: bytes) -> bool:
    """True when `rest` (a match running to the end of the data) may grow into a longer form."""
    if any(len(f) > len(rest) and f.startswith(rest) for f in forms.forms):
        return True
    stripped = rest.translate(None, BREAKS)
    return len(stripped) < len(rest) and any(
        len(f) > len(stripped) and f.startswith(stripped) for f in forms.encoded)


def _span(tail: bytes, k: int) -> int:
    """Bytes at the end of `tail` that hold its last `k` characters other than line breaks."""
    n = k
    while (found := len(tail[-n:].translate(None, BREAKS))) < k:
        n += k - found
    return n


def _first_break(data: bytes, start: int) -> int:
    """Index of the first `\\n` or `\\r` at or after `start` (-1: none)."""
    found = [i for i in (data.find(b"\n", start), data.find(b"\r", start)) if i >= 0]
    return min(found) if found else -1
