"""Masking secret values wherever output or text leaves the package.

Every secret resolved in this process is registered here (the Resolver does it). The forms a
value may show up as, wrapped base64 included, are listed in `secrets.forms`; each is replaced
by `****`.

Values shorter than `MIN_LENGTH` characters are never masked (they would mask everything); a
`ShortSecretWarning` says so.

Three ways to use it:
- `mask_text(s)` / `mask_bytes(b)`: one-shot, for messages, reprs, logging, dry runs, `ps`.
- `REGISTRY.stream_masker()`: an event → events transform for a run's output stream
  (`secrets.stream`), which masks a form split across chunks too.
- `MaskingFilter` / `get_logger`: a `logging.Filter` that masks records of the package's loggers.
"""

from __future__ import annotations

import logging
import re
import threading
import warnings

from ..redaction import set_redactor
from .forms import MASK, MIN_LENGTH, FormSet, compile_forms, encoded_forms, plain_forms
from .stream import StreamMasker

__all__ = ["MASK", "MIN_LENGTH", "REGISTRY", "SecretRegistry", "ShortSecretWarning",
           "get_logger", "mask_bytes", "mask_text", "register"]


class ShortSecretWarning(UserWarning):
    """A secret value is too short to be masked safely; it is left visible in output."""


class SecretRegistry:
    """The secret values known in this process and the compiled patterns that mask them."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values: set[str] = set()
        self._plain: set[str] = set()
        self._encoded: set[str] = set()
        self._forms: FormSet | None = None
        self._stale = False  # values added since the forms were compiled

    @property
    def forms(self) -> FormSet | None:
        """The compiled forms of every value so far (None: nothing to mask), compiled when
        first asked for after values were added: a run resolving 30 secrets compiled them
        30 times, each time with every value before (basics11: seconds before it started)."""
        if self._stale:
            with self._lock:
                if self._stale:
                    self._forms = compile_forms(self._plain, self._encoded)
                    self._stale = False
        return self._forms

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
            self._plain |= plain_forms(value)
            self._encoded |= encoded_forms(value)
            self._stale = True
        return True

    def __bool__(self) -> bool:
        return self._stale or self._forms is not None

    def __len__(self) -> int:
        return len(self._values)

    def __repr__(self) -> str:
        return f"<SecretRegistry: {len(self._values)} value(s)>"

    def clear(self) -> None:
        """Forget every value (for tests)."""
        with self._lock:
            self._values.clear()
            self._plain.clear()
            self._encoded.clear()
            self._forms = None
            self._stale = False

    def mask_text(self, text: str) -> str:
        forms = self.forms
        return forms.mask_text(text) if forms is not None else text

    def mask_bytes(self, data: bytes) -> bytes:
        forms = self.forms
        return forms.mask_bytes(data) if forms is not None else data

    def stream_masker(self) -> StreamMasker:
        """A transform for one run's output, even while nothing is known: a secret another
        run resolves while this one goes on is masked from then on (safety21: a `tail -f`
        started first showed the database password the next cell resolved). Free while
        there is nothing to mask."""
        return StreamMasker(self)


#: The process-wide registry: every resolved secret lands here.
REGISTRY = SecretRegistry()


def register(value: str) -> bool:
    """Mask `value` (and its derived forms) everywhere from now on."""
    return REGISTRY.add(value)


def mask_text(text: str) -> str:
    """`text` with every known secret form replaced by `****`, and the password of a URL
    (`tcp://user:PASSWORD@host` of a DOCKER_HOST or CONTAINER_HOST: kinds16), as git, pip
    and curl show one."""
    masked = REGISTRY.mask_text(text)
    return _URL.sub(_url_masked, masked) if "://" in masked else masked


#: A URL: `scheme://` (after any character: `x_postgres://`, `1http://`), then up to the first
#: blank or the next `scheme://` (`a://h,b://u:p@h`: review38). Where its authority ends, and
#: whether it has a password, `_url_masked` decides. The look-ahead reads at most 35 characters
#: at each: linear in the text.
_URL = re.compile(r"([A-Za-z][A-Za-z0-9+.-]{0,31}://)"
                  r"((?:(?![A-Za-z][A-Za-z0-9+.-]{0,31}://)\S)*)")
#: A user part that is an access token, no name (`https://ghp_…@github.com`): a forge's
#: token prefix, or 32 or more letters, digits, `_` and `-` holding both letters and digits.
_TOKEN = re.compile(r"(?:gh[pousr]_|github_pat_|glpat-)[A-Za-z0-9_-]{16,}"
                    r"|(?=[A-Za-z_-]*\d)(?=[0-9_-]*[A-Za-z])[A-Za-z0-9_-]{32,}")
#: What ends the authority after a `host:PORT` (a path, a query, a fragment) by URL rules.
_AFTER_PORT = frozenset("/?#")
#: What closes a URL written inside a pair (`"…"`, `(…)`, `<…>`): after a `host:PORT`, the
#: character that closes the one before the URL ends it (JSON: review39), escaped too (`\"`).
_CLOSES = {'"': '"', "'": "'", "`": "`", "(": ")", "[": "]", "{": "}", "<": ">"}
#: What ends a host after the user part's `@`: the userinfo's `@` is the last one before it.
#: Not `,` `;` `|`: a password may hold them after an `@` (safety24: `p@ss,word` showed
#: `ss,word`); the character closing the pair the URL is written in ends it too.
_HOST_END = re.compile(r"[/\"'<>`]")


def _url_masked(found: re.Match[str]) -> str:
    """The URL with the password of its user part as `****`: what comes after the first `:`,
    up to the last `@` before its host ends (a raw password may hold `?`, `#`, `@` or `/`:
    review37, review39). A `host:port` then a path, a query or the character closing the
    quote or bracket the URL was written in (text that follows the URL, whatever `@` is
    further on), a `[v6]` host, or a user part holding `/`, `?`, `#` or `@` before its `:`,
    has none. Digits then another character (`redis://:1234;x@h`) are a password: when in
    doubt, masked (review40: such passwords were shown). With no host before the `:`
    (`redis://:1234#x@cache`) there is no port: what follows is a password (safety23)."""
    scheme, rest = found[1], found[2]
    colon, first = rest.find(":"), rest.find("@")
    if 0 < first and (colon < 0 or colon > first) and _TOKEN.fullmatch(rest[:first]):
        return f"{scheme}****{rest[first:]}"  # `https://TOKEN@github.com`, as git takes one
    if colon < 0 or rest.startswith("[") or any(c in "@/?#" for c in rest[:colon]) or (
            _closes_before(found, rest[:colon])):  # `"http://h","n":3,"to":"a@b"` (safety23)
        return found[0]
    digits = colon + 1
    while digits < len(rest) and rest[digits].isdigit():
        digits += 1
    first_at = rest.find("@", colon + 1)
    if first_at < 0 or digits == len(rest) or (colon and rest[digits] in _AFTER_PORT) or (
            _closes(found, rest[digits:digits + 2])):
        return found[0]
    end = _HOST_END.search(rest, first_at)
    stop = end.start() if end else len(rest)
    closer = _CLOSES.get(found.string[found.start() - 1] if found.start() else "")
    if closer is not None and (closed := rest.find(closer, first_at, stop)) >= 0:
        stop = closed
    at = rest.rfind("@", colon + 1, stop)
    user = "****" if _TOKEN.fullmatch(rest[:colon]) else rest[:colon]  # `TOKEN:x-oauth-basic@`
    if at == colon + 1:  # `user:@host`: an empty password
        return found[0] if user == rest[:colon] else f"{scheme}{user}{rest[colon:]}"
    return f"{scheme}{user}:****{rest[at:]}"


def _closes_before(found: re.Match[str], user: str) -> bool:
    """Whether the quote or bracket URL `found` was written in closes within `user`, the
    text before its first `:`: the URL ended there, and what follows is other text."""
    closer = _CLOSES.get(found.string[found.start() - 1] if found.start() else "")
    return closer is not None and closer in user


def _closes(found: re.Match[str], after_port: str) -> bool:
    """Whether `after_port` (the characters after a `host:PORT`) begins with the one that
    closes the quote or bracket just before URL `found` (`\\"` closes `"` too)."""
    before = found.string[found.start() - 1] if found.start() else ""
    closer = _CLOSES.get(before)
    return closer is not None and (after_port[:1] == closer or after_port == "\\" + closer)


def mask_data(value: object) -> object:
    """A JSON-able value with each of its texts masked (keys too): masking the text dumped
    from it turned a number that is also a secret (a PIN) into `****`, which no JSON reader
    takes (safety22: `%orch history --json`)."""
    if isinstance(value, str):
        return mask_text(value)
    if isinstance(value, dict):
        return {mask_text(str(k)): mask_data(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [mask_data(v) for v in value]
    return value


def mask_bytes(data: bytes) -> bytes:
    """`data` with every known secret form replaced by `****`."""
    return REGISTRY.mask_bytes(data)


set_redactor(mask_text)  # every OrchError's message, and our objects' reprs, masked when shown


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

