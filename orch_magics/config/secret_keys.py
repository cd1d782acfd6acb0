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
    return "pass" in key or bool(parts & _SECRET_WORDS) or "key" in parts and bool(
        parts & _KEY_OF_A_SECRET) or bool(
        difflib.get_close_matches(key, ["password", "passwd"], 1, 0.75))


#: Words of a key whose value is a secret: its line is never shown in an error.
_SECRET_WORDS = frozenset({"secret", "token", "tokens", "apikey", "pin", "pwd", "credential",
                           "credentials", "passphrase"})
#: Words that make a `key` one (`API_KEY`, `private_key`), where `SORT_KEY`, `PUBLIC_KEY` or
#: `insecure_accept_host_key` is none (review32: their lines were hidden).
_KEY_OF_A_SECRET = frozenset({"api", "private", "access", "signing", "encryption", "master",
                              "client", "secret"})
#: Where a key splits into words: `_`, `-`, `.`, blanks, and lower-to-upper case (`apiKey`).
_WORDS = re.compile(r"[_\-.\s]+|(?<=[a-z0-9])(?=[A-Z])")
