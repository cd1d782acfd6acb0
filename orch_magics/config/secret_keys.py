"""Which config keys hold a secret (`password`, `API_TOKEN`, `secret_key`): an error about
one, or about a line holding one, shows neither its value nor its line."""

from __future__ import annotations

import re
from collections.abc import Sequence


def secret_key(path: Sequence[object], suggestion: str | None = None) -> bool:
    """Whether the value at `path` (or the key suggested) is a secret: never shown."""
    last = path[-1] if path else None
    return password_word(suggestion or "") or isinstance(last, str) and password_word(last)


def password_word(key: str) -> bool:
    """`password`, `sudo_pass`, `passwd`, one misspelt (`pasword`), or a word of one that
    names a secret (`API_TOKEN`, `SECRET_KEY`, `github-token`: config17, shown in errors)."""
    import difflib  # only for an error

    parts = {p.lower() for p in _WORDS.split(key) if p}
    key = key.lower()
    return "pass" in key or bool(parts & _SECRET_WORDS) or bool(
        parts & _SECRET_UNLESS) and not parts & _NOT_A_SECRET and key not in _SWITCHES or bool(
        difflib.get_close_matches(key, ["password", "passwd"], 1, 0.75))


#: Words of a key whose value is a secret: its line is never shown in an error.
_SECRET_WORDS = frozenset({"secret", "secrets", "token", "tokens", "apikey", "pin", "pwd",
                           "credential", "credentials", "passphrase", "privkey"})
#: Words of a key that holds a secret unless a word of `_NOT_A_SECRET` is beside them:
#: `STRIPE_KEY`, `SSH_KEY`, `BASIC_AUTH`, `private_pem` (review33: shown when only a listed
#: few made a `key` one) but not `SORT_KEY`, `PUBLIC_KEY`, `AUTH_URL` (review32: hidden).
_SECRET_UNLESS = frozenset({"key", "keys", "auth", "private"})
#: What such a key names when one of these is beside: an order, a public half, a place.
_NOT_A_SECRET = frozenset({"sort", "public", "pub", "foreign", "partition", "id", "file",
                           "path", "name", "url", "uri", "endpoint", "type", "method", "mode",
                           "size", "length", "bits", "fingerprint"})
#: orch's own `insecure_accept_host_key`: a switch, not a key (review34: `host` beside `key`
#: excused `HOST_KEY_PRIVATE`, `server`/`primary` Azure's and FCM's keys).
_SWITCHES = frozenset({"insecure_accept_host_key"})
#: Where a key splits into words: `_`, `-`, `.`, blanks, and lower-to-upper case (`apiKey`).
_WORDS = re.compile(r"[_\-.\s]+|(?<=[a-z0-9])(?=[A-Z])")
