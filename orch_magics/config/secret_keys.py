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

    words = [p.lower() for p in _WORDS.split(key) if p]
    key = key.lower()
    return "pass" in key or bool(set(words) & _SECRET_WORDS) or _keyed(words) and (
        key not in _SWITCHES) or bool(difflib.get_close_matches(key, ["password", "passwd"],
                                                               1, 0.75))


def _keyed(words: list[str]) -> bool:
    """Whether a key's last `key`, `keys`, `auth` or `private` names its value: `STRIPE_KEY`,
    `URL_SIGNING_KEY`, `BASIC_AUTH`, `private_pem`; not `KEY_FILE`, `AUTH_URL`,
    `HOST_KEY_CHECKING` (a word after it says what of the key is held), nor `SORT_KEY` or
    `PUBLIC_KEY` (review35: a place word anywhere in the key excused `URL_SIGNING_KEY`)."""
    at = max((i for i, word in enumerate(words) if word in _SECRET_UNLESS), default=None)
    if at is None:
        return False
    after = words[at + 1] if at + 1 < len(words) else None
    if set(words[at + 1:]) & _MATERIAL:  # `KEY_FILE_CONTENT`, `SSH_KEY_FILE_BASE64` (review36)
        return True
    return after not in _ABOUT_IT and (at == 0 or words[at - 1] not in _NO_SECRET_KIND)


#: Words of a key whose value is a secret: its line is never shown in an error.
_SECRET_WORDS = frozenset({"secret", "secrets", "token", "tokens", "apikey", "pin", "pwd",
                           "credential", "credentials", "passphrase", "privkey",
                           "authorization"})
#: Words of a key that holds a secret, by the words around the last of them (`_keyed`).
_SECRET_UNLESS = frozenset({"key", "keys", "auth", "private"})
#: After such a word: what of it the value is, not the secret itself (`KEY_ID`, `AUTH_URL`).
_ABOUT_IT = frozenset({"id", "ids", "file", "files", "path", "dir", "name", "names", "url",
                       "uri", "endpoint", "host", "server", "domain", "realm", "provider",
                       "type", "method", "mode", "scope", "scopes", "size", "length", "bits",
                       "fingerprint", "checking", "algorithm", "algorithms", "format",
                       "version", "enabled", "required", "rotation"})
#: After it, anywhere: the key itself, whatever came between (`PRIVATE_KEY_FILE_CONTENT`).
_MATERIAL = frozenset({"content", "contents", "base64", "b64", "pem", "data", "material",
                       "body", "raw", "value", "text"})
#: Before it: a kind of key that is no secret (an order, a public half).
_NO_SECRET_KIND = frozenset({"sort", "public", "pub", "foreign", "partition"})
#: orch's own `insecure_accept_host_key`: a switch, not a key.
_SWITCHES = frozenset({"insecure_accept_host_key"})
#: Where a key splits into words: `_`, `-`, `.`, blanks, and lower-to-upper case (`apiKey`).
_WORDS = re.compile(r"[_\-.\s]+|(?<=[a-z0-9])(?=[A-Z])")
