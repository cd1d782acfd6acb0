"""The texts a secret value can show up as in output, and the patterns that find them.

Plain forms: the value (a multi-line one also with CRLF line ends, as a terminal shows it);
each line of a multi-line value (as is and stripped); as quoters write it back (`quoting_forms`:
shells, HTML, CSV, SQL) and as a shell splits it into words; URL-encoding
(`quote`, with `/` kept or not, and `quote_plus`; as JavaScript, HTML forms and jq write it:
`url_forms`; hex in upper or lower case); the value
escaped inside a JSON string as the common encoders write it (see `json_forms`) and as Python
writes it inside a repr, an `ascii()` or a bytes repr (see `python_forms`).

Also, for a value of ASCII text, its UTF-16 forms (little- and big-endian: every other byte NUL,
which a terminal shows as the plain text).

Encoded forms, in the standard and URL-safe base64 alphabets: the encoding of the value and of
the value plus a newline (`echo $S | base64`), padded and unpadded; and, for a value encoded in
the middle of other data, the characters that depend on the value alone at each of the three
byte alignments (`echo "pw=$S" | base64`). Its bytes in hex, lower and upper case, run
together (`xxd -p`, `.hex()`) or a space between bytes (`od -An -tx1`).

Encoders wrap their output (`base64` at 76 columns, PEM and `openssl` at 64, CRLF in MIME), so an
encoded form is found with an optional line break (`\\n` or `\\r\\n`) between any two of its
characters. A match is replaced by `****` per line piece: masking never joins or splits lines.
"""

from __future__ import annotations

import base64
import html
import itertools
import json
import re
import string
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Protocol, TypeVar
from urllib.parse import quote, quote_plus

from .escapes import ESCAPE_BYTES, ESCAPE_TEXT, has_escape, merged, original, without_escapes

MASK = "****"
MIN_LENGTH = 4
#: Longest value (bytes) looked for in hex and UTF-16 too (a password or a token; a key's
#: forms so long cost masking ~3x its time: review31).
DUMPED_MAX = 256
#: An optional line break between two characters of an encoded form.
BREAK = "(?:\r?\n)?"
BREAKS = b"\r\n"
#: Every character of the two base64 alphabets.
B64_CHARS = (b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=-_")

_PIECE_TEXT = re.compile(r"[^\r\n]+")
_PIECE_BYTES = re.compile(rb"[^\r\n]+")
_ENCODERS: tuple[Callable[[bytes], bytes], ...] = (base64.b64encode, base64.urlsafe_b64encode)


def plain_forms(value: str) -> set[str]:
    """The value, each line of it (its text, without the indentation), and its
    URL-encodings."""
    raw = value.encode("utf-8", "surrogateescape")  # bytes that are not UTF-8 stay themselves
    shown = raw.decode("utf-8", "backslashreplace")  # and as orch writes them: `\xe9`
    quoted = {quote(raw, safe=""), quote(raw), quote_plus(raw, safe=""), quote_plus(raw),
              *url_forms(value, raw)}
    forms = {value, shown, *quoted, *(_HEX.sub(lambda m: m[0].lower(), q) for q in quoted),
             *python_forms(value, raw), *json_forms(value), *quoting_forms(value)}
    if value.isascii() and len(value) <= DUMPED_MAX:  # UTF-16 (a Windows-made file, `>` in
        # PowerShell): a terminal drops its NULs
        forms.update(("\0".join(value) + "\0", "\0" + "\0".join(value)))
    lines = value.split("\n")
    if len(lines) > 1:  # as a terminal shows it (`tty: true`), or a CRLF program prints it
        forms.add("\r\n".join(line.removesuffix("\r") for line in lines))
    forms = {f for f in forms if len(f) >= MIN_LENGTH}
    if len(lines) > 1:  # each line's text, its indentation left out: a line of spaces, or
        # the `    }` of a JSON secret, would mask every indented line of later output
        forms.update(t for line in lines if len(t := line.strip()) >= MIN_LENGTH)
    return forms


def quoting_forms(value: str) -> set[str]:
    """`value` as shells and other quoters write it back (safety14: a `$` in a password went
    out whole through `export -p`, a `'` through `set -x`): in double quotes (`declare -p`),
    `printf %q`, single quotes closed and reopened (bash `'\\''`, dash and shlex `'"'"'`),
    HTML, CSV and SQL quote doubling; and as the shell splits it into words (`echo $TOK`:
    a pasted token's blanks at either end gone, blanks between words one space)."""
    escaped = html.escape(value)
    return {_DOUBLE_QUOTED.sub(r"\\\g<0>", value), *_printf_q(value),
            value.replace("'", "'\\''"), value.replace("'", "'\"'\"'"),
            escaped, html.escape(value, quote=False), value.replace('"', '""'),
            escaped.replace("&#x27;", "&#39;").replace("&quot;", "&#34;"),  # markupsafe's
            escaped.replace("&#x27;", "&#039;"),  # PHP's htmlspecialchars(ENT_QUOTES)
            escaped.replace("&#x27;", "&apos;"),  # XML writers, jq's @html
            *ansi_c_forms(value), yaml_escaped(value),
            value.replace("'", "''"), value.strip(), " ".join(value.split())}


#: bash's names of control characters in `$'…'` quoting.
_ANSI_C_NAMED = {"\a": "\\a", "\b": "\\b", "\x1b": "\\E", "\f": "\\f", "\n": "\\n",
                 "\r": "\\r", "\t": "\\t", "\v": "\\v", "'": "\\'", "\\": "\\\\"}


def ansi_c_forms(value: str) -> set[str]:
    """`value` inside bash's `$'…'` quoting (`printf %q`, `declare -p`, `${X@Q}`, `set -x`
    when it holds a byte the locale cannot print), in a UTF-8 locale and in the C one, where
    every byte that is not printable ASCII is a 3-digit octal escape (safety15)."""
    raw = value.encode("utf-8", "surrogateescape")
    c_locale = "".join(_ANSI_C_NAMED.get(chr(b)) or (chr(b) if 0x20 <= b < 0x7F else f"\\{b:03o}")
                       for b in raw)
    utf8 = "".join(_ANSI_C_NAMED.get(c) or (c if c.isprintable() else "".join(
        f"\\{b:03o}" for b in c.encode("utf-8", "surrogateescape"))) for c in value)
    return {c_locale, utf8}


def yaml_escaped(value: str) -> str:
    """`value` in a double-quoted YAML scalar as PyYAML and libyaml write it without
    `allow_unicode`: `\\xE4`, `\\u20AC`, upper-case hex (safety15: `yaml.dump` showed it)."""
    def one(c: str) -> str:
        code = ord(c)
        if c in '"\\':
            return "\\" + c
        if 0x20 <= code < 0x7F:
            return c
        return (f"\\x{code:02X}" if code <= 0xFF else f"\\u{code:04X}" if code <= 0xFFFF
                else f"\\U{code:08X}")
    return "".join(one(c) for c in value)


#: What a shell escapes with a backslash inside double quotes, and what `printf %q` leaves:
#: bash 5.2 escapes `,` and `^` too (safety19: it showed `abcd\,efgh`), earlier ones did not.
_DOUBLE_QUOTED = re.compile(r'[$"\\`]')
_PRINTF_Q = (re.compile(r"[^A-Za-z0-9_./,:=@%^+~#\-\x80-\U0010ffff]"),
             re.compile(r"[^A-Za-z0-9_./:=@%+~#\-\x80-\U0010ffff]"))


def _printf_q(value: str) -> set[str]:
    """`value` as bash's `printf %q` writes it, before and since 5.2 (`~` and `#` escaped only
    where a word starts)."""
    forms = {unsafe.sub(r"\\\g<0>", value) for unsafe in _PRINTF_Q}
    return {"\\" + form if form[:1] in ("~", "#") else form for form in forms}


def url_forms(value: str, raw: bytes) -> set[str]:
    """`value` URL-encoded as other languages do (safety19): JavaScript's `encodeURIComponent`
    and jq 1.6's `@uri` (`!'()*` kept), `URLSearchParams` and HTML forms (`*` kept, `~`
    escaped, a space `+`), and JavaScript's `escape()` (`@*+/` kept; `%uXXXX` past U+00FF)."""
    def escaped(c: str) -> str:
        code = ord(c)
        if c.isascii() and (c.isalnum() or c in "@*_+-./"):
            return c
        units = c.encode("utf-16-be", "surrogatepass")  # safety20: past U+FFFF, a pair
        return f"%{code:02X}" if code < 0x100 else "".join(
            f"%u{int.from_bytes(units[i:i + 2], 'big'):04X}" for i in range(0, len(units), 2))
    return {quote(raw, safe="!'()*"), quote_plus(raw, safe="*").replace("~", "%7E"),
            "".join(map(escaped, value))}


#: A percent-encoded byte, as `quote` writes it (upper-case hex).
_HEX = re.compile("%[0-9A-F]{2}")


def python_forms(value: str, raw: bytes) -> set[str]:
    """`value` as Python escapes it: inside a repr, alone and (its `'` written `\\'`) in a
    text that also holds a `"`; the same with non-ASCII escaped (`ascii()`: `\\xe4`); and
    inside the repr of its UTF-8 bytes (`b'p\\xc3\\xa4'`)."""
    return {repr(value)[1:-1], repr(value + '"')[1:-2], ascii(value)[1:-1],
            ascii(value + '"')[1:-2], repr(raw)[2:-1], repr(raw + b'"')[2:-2]}


#: Characters JSON encoders write as `\\uXXXX` beyond what JSON asks, by encoder: none (Python,
#: JavaScript, Jackson), Go's encoding/json, Gson, .NET's System.Text.Json, PHP's JSON_HEX_*,
#: jq (DEL, with non-ASCII as it is: safety20).
#: Characters every JSON encoder writes as they are.
_JSON_PLAIN = frozenset(string.ascii_letters + string.digits + " !#$%()*,-.:;?@[]^_`{|}~")
_ESCAPED_BY = ("", "&<>\u2028\u2029", "<>&='", "+&<>'\"", "<>&'\"", "\x7f")


def json_forms(value: str) -> set[str]:
    """`value` inside a JSON string as the common encoders write it: each set of `_ESCAPED_BY`,
    with non-ASCII as `\\uXXXX` or not, `/` as `\\/` (PHP) or not, the hex of each in lower or
    upper case (.NET: both upper; PHP: `\\u003C` but `\\u00e4`). A value without such
    characters has one form: itself."""
    special = {c for c in value if c not in _JSON_PLAIN}
    if not special:
        return {value}
    wide, slash = any(ord(c) >= 0x7F for c in special), "/" in special  # DEL too (safety20)
    choices = ({"".join(sorted(special & set(e))) for e in _ESCAPED_BY}, (True, False)[not wide:],
               (False, True)[:1 + slash], (False, True), (False, True)[:1 + wide])
    return {"".join(c if c not in special else _json_char(c, *how) for c in value)
            for how in itertools.product(*choices)}


def _json_char(c: str, escaped: str, ascii_only: bool, slash: bool, upper: bool,
               upper_non_ascii: bool) -> str:
    if c in escaped or ascii_only and ord(c) >= 0x7F:
        text = json.dumps(c)[1:-1] if ord(c) > 0x7F else f"\\u{ord(c):04x}"
        up = upper_non_ascii if ord(c) > 0x7F else upper
        return text.upper().replace("\\U", "\\u") if up else text
    if c == "/" and slash:
        return "\\/"
    return json.dumps(c, ensure_ascii=False)[1:-1]  # quotes, backslashes, control characters


def aligned_core(raw: bytes, offset: int, encode: Callable[[bytes], bytes]) -> str:
    """The base64 characters that depend only on `raw` when it starts `offset` bytes into a
    3-byte group (character i carries bits 6i..6i+5 of the data)."""
    text = encode(b"\0" * offset + raw + b"\0\0").decode("ascii")
    first = -(-8 * offset // 6)
    return text[first:8 * (offset + len(raw)) // 6]


def encoded_forms(value: str) -> set[str]:
    """The base64 and hex forms of `value` (see the module docstring)."""
    raw = value.encode("utf-8", "surrogateescape")
    forms = {raw.hex(), raw.hex().upper(), raw.hex(" "), raw.hex(" ").upper()} \
        if len(raw) <= DUMPED_MAX else set()  # a key's dump is rare, and costly to look for
    for encode in _ENCODERS:
        for data in (raw, raw + b"\n"):
            text = encode(data).decode("ascii")
            forms.update((text, text.rstrip("=")))
        forms.update(aligned_core(raw, offset, encode) for offset in range(3))
    return {f for f in forms if len(f) >= MIN_LENGTH}


@dataclass(frozen=True)
class FormSet:
    """Compiled patterns for a set of forms, plus what a stream needs to hold back a start.

    Forms that overlap (two secrets sharing a part: `abcdXYZ1` and `XYZ1wxyz9876`) are masked
    as one span (`spans`): matching them one after the other left the second's rest shown
    (basics11)."""

    text_re: re.Pattern[str]
    bytes_re: re.Pattern[bytes]
    forms: tuple[bytes, ...]  # every form, as it appears without added line breaks
    encoded: tuple[bytes, ...]  # the forms that may be wrapped
    window: int  # bytes at the end of a chunk that can hold the start of a (wrapped) form
    overlap: bool = False  # whether a form may begin inside another and run past its end

    def mask_text(self, text: str) -> str:
        return _masked(text, self.spans(self.text_re, text), blank_text) if text else text

    def mask_bytes(self, data: bytes) -> bytes:
        return _masked(data, self.spans(self.bytes_re, data), blank_bytes) if data else data

    def spans(self, pattern: re.Pattern[AnyStr], data: AnyStr) -> list[tuple[int, int]]:
        """Where forms are in `data` (`pattern`: this set's, text or bytes), also where a
        terminal's escape sequences stand between their characters (escapes.py)."""
        found = spans(pattern, data, inside=self.overlap)
        if not has_escape(data):
            return found
        plain, kept_at, from_at = without_escapes(data)
        return merged(found + [original(span, kept_at, from_at)
                               for span in spans(pattern, plain, inside=self.overlap)])


AnyStr = TypeVar("AnyStr", str, bytes)


def spans(pattern: re.Pattern[AnyStr], data: AnyStr, *,
          inside: bool = True) -> list[tuple[int, int]]:
    """Where forms are in `data`, (start, end), in order: with `inside`, a form starting
    inside one found and running past its end extends it (only there is a form looked for at
    each position: review20 found that 70 times slower on output dense in long secrets, so
    a set whose forms cannot overlap so skips it)."""
    found: list[tuple[int, int]] = []
    pos = 0
    while (m := pattern.search(data, pos)) is not None:
        start, end = m.span()
        at = start + 1 if inside else end
        while at < end:
            inner = pattern.match(data, at)
            if inner is not None and inner.end() > end:
                end = inner.end()
            at += 1
        found.append((start, end))
        pos = end
    return found


def _masked(data: AnyStr, where: list[tuple[int, int]],
            blank: Callable[[AnyStr], AnyStr]) -> AnyStr:
    """`data` with each span blanked."""
    if not where:
        return data
    parts: list[AnyStr] = []
    pos = 0
    for start, end in where:
        parts += (data[pos:start], blank(data[start:end]))
        pos = end
    parts.append(data[pos:])
    return data[:0].join(parts)


class FormSource(Protocol):
    """Where the current forms come from (the registry: secrets may be added during a run)."""

    @property
    def forms(self) -> FormSet | None: ...


def compile_forms(plain: Iterable[str], encoded: Iterable[str]) -> FormSet:
    """One pattern for all forms, as a trie (basics11: an alternation of every form, tried at
    every position, masked 10 MB in 6 s with 30 secrets); at one position the longest form
    wins."""
    encoded = set(encoded)
    ordered = sorted({*plain, *encoded}, key=len, reverse=True)
    root = _trie(ordered, encoded)
    source = _emit(root)
    forms = tuple(f.encode("utf-8", "surrogateescape") for f in ordered)
    return FormSet(
        text_re=re.compile(source),
        bytes_re=re.compile(source.encode("utf-8", "surrogateescape")),
        forms=forms, encoded=tuple(f.encode("ascii") for f in ordered if f in encoded),
        window=3 * max(len(f) for f in forms) + 2,
        overlap=any(_runs_on(root, form[i:]) for form in ordered for i in range(1, len(form))))


class _Node:
    """A trie node: the next characters, whether a form ends here, and whether a line break
    may follow its character (inside an encoded form)."""

    __slots__ = ("children", "end", "wraps")

    def __init__(self) -> None:
        self.children: dict[str, _Node] = {}
        self.end = False
        self.wraps = False


def _trie(forms: Iterable[str], encoded: set[str]) -> _Node:
    """The trie of `forms`, from which `_emit` writes one regular expression matching each (an
    encoded one with an optional line break between any two characters), branching only
    where forms differ, so one branch is followed at each position."""
    root = _Node()
    for form in forms:
        node, wrapped = root, form in encoded
        for i, char in enumerate(form):
            node = node.children.setdefault(char, _Node())
            node.wraps |= wrapped and i < len(form) - 1
        node.end = True
    return root


def _runs_on(root: _Node, rest: str) -> bool:
    """Whether `rest` (the end of a form) is the start of a form that goes on past it: a form
    found may then be extended by one beginning inside it (`spans`)."""
    node = root
    for char in rest:
        child = node.children.get(char)
        if child is None:
            return False
        node = child
    return bool(node.children)


def _emit(node: _Node) -> str:
    """The expression of the forms below `node`: a run of single children as literals (a
    long secret costs no recursion), a group where they branch, optional where one ends (so
    the longest form wins)."""
    parts = []
    while len(node.children) == 1 and not node.end:
        char, node = next(iter(node.children.items()))
        parts.append(re.escape(char) + (BREAK if node.wraps else ""))
    if node.children:
        branches = "|".join(re.escape(char) + (BREAK if child.wraps else "") + _emit(child)
                            for char, child in node.children.items())
        parts.append(f"(?:{branches})" + ("?" if node.end else ""))
    return "".join(parts)


def blank_text(found: str) -> str:
    """A found form as `****` per line piece (its line breaks are kept), then the escape
    sequences that stood inside it (a colour it set or reset goes on as it would have)."""
    if not has_escape(found):
        return _PIECE_TEXT.sub(MASK, found)
    return _PIECE_TEXT.sub(MASK, ESCAPE_TEXT.sub("", found)) + "".join(ESCAPE_TEXT.findall(found))


def blank_bytes(found: bytes) -> bytes:
    """`blank_text` of bytes."""
    if not has_escape(found):
        return _PIECE_BYTES.sub(MASK.encode(), found)
    return (_PIECE_BYTES.sub(MASK.encode(), ESCAPE_BYTES.sub(b"", found))
            + b"".join(ESCAPE_BYTES.findall(found)))
