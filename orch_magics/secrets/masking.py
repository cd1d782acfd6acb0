"""Masking secret values wherever output or text leaves the package.

Every secret resolved in this process is registered here (the Resolver does it). From a value
we derive the forms a command can print it in: the value itself, each line of a multi-line
value, base64 (with and without padding, URL-safe, and of the value plus a newline, as
`echo $S | base64` prints it) and URL-encoding. Each form is replaced by `****`.

Values shorter than `MIN_LENGTH` characters are never masked (they would mask everything); a
`ShortSecretWarning` says so.

Three ways to use it:
- `mask_text(s)` / `mask_bytes(b)`: one-shot, for messages, reprs, logging, dry runs, `ps`.
- `StreamMasker`: an event → events transform for a run's output stream. A form split across
  two chunks is still masked: the end of a chunk that could be the start of a form is held back
  until the next chunk (or the end of the stream) decides.
- `MaskingFilter` / `get_logger`: a `logging.Filter` that masks records of the package's loggers.
"""

from __future__ import annotations

import base64
import logging
import re
import threading
import warnings
from urllib.parse import quote, quote_plus

from ..process.events import Event, Exit, Stderr, Stdout

MASK = "****"
MIN_LENGTH = 4


class ShortSecretWarning(UserWarning):
    """A secret value is too short to be masked safely; it is left visible in output."""


def derived_forms(value: str) -> set[str]:
    """The texts under which `value` may show up in output (each at least MIN_LENGTH long)."""
    forms = {value}
    lines = [line.strip("\r") for line in value.split("\n")]
    if len(lines) > 1:
        forms.update(line for line in lines)
        forms.update(line.strip() for line in lines)
    raw = value.encode("utf-8")
    for data in (raw, raw + b"\n"):
        for enc in (base64.b64encode(data), base64.urlsafe_b64encode(data)):
            text = enc.decode("ascii")
            forms.add(text)
            forms.add(text.rstrip("="))
    forms.add(quote(value, safe=""))
    forms.add(quote_plus(value, safe=""))
    return {f for f in forms if len(f) >= MIN_LENGTH}


class SecretRegistry:
    """The secret values known in this process and the compiled patterns that mask them."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values: set[str] = set()
        self._forms: set[str] = set()
        self._text_re: re.Pattern[str] | None = None
        self._bytes_re: re.Pattern[bytes] | None = None
        self._prefixes: frozenset[bytes] = frozenset()
        self._longest = 0
        self.version = 0

    def add(self, value: str) -> bool:
        """Register a value; returns False (and warns) when it is too short to be masked."""
        if not value or value in self._values:
            return bool(value) and len(value) >= MIN_LENGTH
        if len(value) < MIN_LENGTH:
            warnings.warn(
                f"a secret value shorter than {MIN_LENGTH} characters is not masked in output",
                ShortSecretWarning, stacklevel=3)
            with self._lock:
                self._values.add(value)
            return False
        with self._lock:
            self._values.add(value)
            self._forms |= derived_forms(value)
            self._compile()
        return True

    def _compile(self) -> None:
        forms = sorted(self._forms, key=len, reverse=True)  # longest first at a position
        self._text_re = re.compile("|".join(re.escape(f) for f in forms))
        encoded = [f.encode("utf-8") for f in forms]
        self._bytes_re = re.compile(b"|".join(re.escape(f) for f in encoded))
        self._prefixes = frozenset(f[:i] for f in encoded for i in range(1, len(f)))
        self._longest = max(len(f) for f in encoded)
        self.version += 1

    def __bool__(self) -> bool:
        return self._bytes_re is not None

    def __len__(self) -> int:
        return len(self._values)

    def __repr__(self) -> str:
        return f"<SecretRegistry: {len(self._values)} value(s)>"

    def clear(self) -> None:
        """Forget every value (for tests)."""
        with self._lock:
            self._values.clear()
            self._forms.clear()
            self._text_re = self._bytes_re = None
            self._prefixes = frozenset()
            self._longest = 0
            self.version += 1

    def mask_text(self, text: str) -> str:
        pattern = self._text_re
        return pattern.sub(MASK, text) if pattern is not None and text else text

    def mask_bytes(self, data: bytes) -> bytes:
        pattern = self._bytes_re
        return pattern.sub(MASK.encode(), data) if pattern is not None and data else data

    def stream_masker(self) -> StreamMasker | None:
        """A transform for one run's output, or None when there is nothing to mask."""
        return StreamMasker(self) if self else None


#: The process-wide registry: every resolved secret lands here.
REGISTRY = SecretRegistry()


def register(value: str) -> bool:
    """Mask `value` (and its derived forms) everywhere from now on."""
    return REGISTRY.add(value)


def mask_text(text: str) -> str:
    """`text` with every known secret form replaced by `****`."""
    return REGISTRY.mask_text(text)


def mask_bytes(data: bytes) -> bytes:
    return REGISTRY.mask_bytes(data)


class StreamMasker:
    """Masks Stdout/Stderr chunks of one run; a pure event → events transform.

    Per stream, the longest tail of the data seen so far that is the beginning of a secret form
    is held back; it is released (masked or not) when the next chunk shows how it goes on, or
    at the Exit event. Output that cannot start a secret passes with no delay, so prompts of
    interactive programs still show at once.
    """

    def __init__(self, registry: SecretRegistry) -> None:
        self._registry = registry
        self._pending: dict[type[Stdout] | type[Stderr], bytes] = {Stdout: b"", Stderr: b""}

    def __call__(self, event: Event) -> list[Event]:
        if isinstance(event, (Stdout, Stderr)):
            kind = type(event)
            out = self._mask(kind, self._pending[kind] + event.data)
            return [kind(out)] if out else []
        if isinstance(event, Exit):
            return [*self.flush(), event]
        return [event]

    def flush(self) -> list[Event]:
        """Release what is held back (masked) at the end of the streams."""
        out: list[Event] = []
        for kind, rest in self._pending.items():
            if rest:
                out.append(kind(self._registry.mask_bytes(rest)))
            self._pending[kind] = b""
        return out

    def _mask(self, kind: type[Stdout] | type[Stderr], data: bytes) -> bytes:
        reg = self._registry
        pattern = reg._bytes_re
        if pattern is None:
            self._pending[kind] = b""
            return data
        parts: list[bytes] = []
        pos = 0
        prefixes = reg._prefixes
        size = len(data)
        hold = 0
        for m in pattern.finditer(data):
            if size - m.start() < reg._longest and data[m.start():] in prefixes:
                hold = size - m.start()  # a longer form (e.g. with "=" padding) may follow
                break
            parts.append(data[pos:m.start()])
            parts.append(MASK.encode())
            pos = m.end()
        else:
            for k in range(min(reg._longest - 1, size - pos), 0, -1):
                if data[size - k:] in prefixes:
                    hold = k
                    break
        if hold and size - hold < pos:
            hold = size - pos
        parts.append(data[pos:len(data) - hold])
        self._pending[kind] = data[len(data) - hold:] if hold else b""
        return b"".join(parts)


class MaskingFilter(logging.Filter):
    """Masks the message, arguments and traceback text of every record it sees."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not REGISTRY:
            return True
        try:
            message = record.getMessage()
        except Exception:
            message = str(record.msg)
        record.msg = mask_text(message)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = mask_text(record.exc_text)
        if record.stack_info:
            record.stack_info = mask_text(record.stack_info)
        return True


_FILTER = MaskingFilter()


def get_logger(name: str) -> logging.Logger:
    """A package logger whose records are masked before any handler sees them."""
    logger = logging.getLogger(name)
    if _FILTER not in logger.filters:
        logger.addFilter(_FILTER)
    return logger

