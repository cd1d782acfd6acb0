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

    words = _stems_apart([p.lower() for p in _WORDS.split(key) if p])
    key = key.lower()
    return "pass" in key or _secret_word(words) or _keyed(words) and (
        key not in _SWITCHES) or bool(difflib.get_close_matches(key, ["password", "passwd"],
                                                               1, 0.75))


def _stems_apart(words: list[str]) -> list[str]:
    """Words run together split before the stem that ends them (`clientsecret`,
    `refreshtoken`, `sshkey`: review39, a list of six such words missed the rest)."""
    out: list[str] = []
    for word in words:
        stem = next((s for s in _STEMS if word.endswith(s) and len(word) > len(s) + 2
                     and word not in _SECRET_WORDS), None)
        out += [word[:-len(stem)], stem] if stem else [word]
    return out


def _secret_word(words: list[str]) -> bool:
    """Whether a word names a secret: a token or a PIN, but for a count of them
    (`max_tokens`, `TOKENS_PER_SECOND`, `pin_memory`: review39, hidden in errors)."""
    for i, word in enumerate(words):
        if word not in _SECRET_WORDS:
            continue
        counted = word in _COUNTABLE and (
            i > 0 and words[i - 1] in _COUNTS or words[i + 1:i + 2] != []
            and words[i + 1] in _COUNTS_AFTER)
        if not counted:
            return True
    return False


def _keyed(words: list[str]) -> bool:
    """Whether a key's last `key`, `keys`, `auth`, `authorization` or `private` names its
    value: `STRIPE_KEY`, `URL_SIGNING_KEY`, `BASIC_AUTH`, `private_pem`, `KEY_FILE_BYTES`;
    not a kind of key that is none (`SORT_KEY`, `PUBLIC_KEY_PEM`), nor one whose last word
    says what of it is held (`KEY_FILE`, `private_data_dir`, `authorization_endpoint`) or
    whose next word does (`AUTH_URL_V2`, `HOST_KEY_CHECKING`): the last word decides first
    (review36, review37: the key's material after a file word; a public half hidden)."""
    at = max((i for i, word in enumerate(words) if word in _SECRET_UNLESS), default=None)
    if at is None or at > 0 and words[at - 1] in _NO_SECRET_KIND:
        return False
    rest = words[at + 1:]
    if rest and rest[-1] in _MATERIAL:
        return True
    return not rest or rest[-1] not in _ABOUT_IT and rest[0] not in _ABOUT_IT


#: Words of a key whose value is a secret: its line is never shown in an error.
_SECRET_WORDS = frozenset({"secret", "secrets", "token", "tokens", "apikey", "pin", "pwd",
                           "credential", "credentials", "passphrase", "privkey", "hmac",
                           "bearer", "mnemonic", "dsn", "authtoken", "authkey", "secretkey",
                           "accesstoken", "apitoken", "privatekey", "pat"})
#: Stems a word run together may end with (`_stems_apart`), longest first.
_STEMS = ("secret", "tokens", "token", "keys", "key")
#: Secret words that also count things, and the words that say a count is meant.
_COUNTABLE = frozenset({"token", "tokens", "pin"})
_COUNTS = frozenset({"max", "min", "num", "total", "n", "count"})
_COUNTS_AFTER = frozenset({"per", "count", "limit", "limits", "memory", "length", "size",
                           "budget"})
#: Words of a key that holds a secret, by the words around the last of them (`_keyed`).
_SECRET_UNLESS = frozenset({"key", "keys", "auth", "authorization", "private", "signature",
                            "cookie", "seed", "salt"})
#: After such a word: what of it the value is, not the secret itself (`KEY_ID`, `AUTH_URL`).
_ABOUT_IT = frozenset({"id", "ids", "file", "files", "path", "dir", "name", "names", "url",
                       "uri", "endpoint", "host", "server", "domain", "realm", "provider",
                       "type", "method", "mode", "scope", "scopes", "size", "length", "bits",
                       "fingerprint", "checking", "algorithm", "algorithms", "format",
                       "version", "enabled", "required", "rotation", "separator",
                       "delimiter", "hosts", "secure", "ip", "master", "public", "rounds"})
#: After it, anywhere: the key itself, whatever came between (`PRIVATE_KEY_FILE_CONTENT`).
_MATERIAL = frozenset({"content", "contents", "base64", "b64", "pem", "data", "material",
                       "body", "raw", "value", "text", "bytes", "string", "hex", "json",
                       "blob"})
#: Before it: a kind of key that is no secret (an order, a public half).
_NO_SECRET_KIND = frozenset({"sort", "public", "pub", "foreign", "partition", "random"})
#: orch's own `insecure_accept_host_key`: a switch, not a key.
_SWITCHES = frozenset({"insecure_accept_host_key"})
#: Where a key splits into words: `_`, `-`, `.`, blanks, and lower-to-upper case (`apiKey`).
_WORDS = re.compile(r"[_\-.\s]+|(?<=[a-z0-9])(?=[A-Z])")


def keyed_secret(text: str, line_no: int | None) -> bool:
    """Whether config line `line_no` sets a key that holds a secret (`PGPASSWORD: Cl3ar: x`),
    or is the value of one, written on the lines under it (`PGPASSWORD:` then the value:
    review42): its syntax error is said without it, as a validation error about such a key
    is. Every line up to the first one less indented is judged: a quoted value may go on at
    its key's own indent, and a tab-indented line is read as 8 columns (review44: either
    skipped the key and showed the value)."""
    lines = [one.expandtabs() for one in text.splitlines()]
    if line_no is None or not 0 < line_no <= len(lines):
        return False
    judged = [lines[line_no - 1]]
    indent = len(judged[0]) - len(judged[0].lstrip())
    for above in reversed(lines[:line_no - 1]):  # the key whose value it is: less indented
        if above.strip() and not above.lstrip().startswith("#"):
            judged.append(above)
            if len(above) - len(above.lstrip()) < indent:
                break
    return any(password_word(key) for line in judged for key in _LINE_KEYS.findall(line))


#: The keys a YAML line sets (`  - KEY: …`, `{a: 1, KEY: x}`), quoted or not.
_LINE_KEYS = re.compile(r"""["']?([A-Za-z_][\w.-]*)["']?\s*:""")
