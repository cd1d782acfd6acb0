"""Text for people: sizes, "1 line / 2 lines", and tables, one rendering for every front end."""

from __future__ import annotations

import re
import shlex
import unicodedata
from collections.abc import Sequence
from typing import Any


def human_size(n: float) -> str:
    """`512 B`, `1.5 KiB`, `3.2 MiB`, `1.0 GiB`."""
    value = float(n)
    for unit in ("B", "KiB", "MiB"):
        if value < 1024:
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GiB"


def plural(n: int, word: str) -> str:
    """`1 line`, `2 lines`, `0 lines`."""
    return f"{n} {word}" + ("" if n == 1 else "s")


def some_of(names: Sequence[str], shown: int = 12) -> str:
    """`a, b, c`, or past `shown` names their first ones and a count (`a, b, …, 10,000 in
    all`): an error naming what is known stays one short line however many there are."""
    if len(names) <= shown:
        return ", ".join(names)
    return f"{', '.join(names[:shown - 1])}, … ({len(names):,} in all)"


def table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """Left-aligned columns, two spaces apart, as a terminal shows them: control characters in
    a cell escaped (a config's description cannot repaint the screen), wide ones counted twice."""
    cells = [tuple(printable(str(c)) for c in row) for row in [header, *rows]]
    widths = [max(columns(r[i]) for r in cells) for i in range(len(header))]
    return "\n".join("  ".join(c + " " * (w - columns(c)) for c, w in zip(r, widths, strict=True))
                     .rstrip() for r in cells)


def no_byte_at(text: str) -> int | None:
    """Where `text` holds a surrogate that stands for no byte (`\\ud800`), which no program
    or path can take; a lone `\\udc80`-`\\udcff` is the byte `os.fsdecode` kept. None when
    every character can be sent."""
    try:
        text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError as exc:
        return exc.start
    return None


def quoted(text: str, limit: int = 200) -> str:
    """`text` in quotes, as a message shows a value someone wrote: control characters escaped
    (`printable`), cut to `limit` characters behind a `…` (a generated jq program can be
    megabytes: basics9)."""
    return "'" + printable(text if len(text) <= limit else text[:limit - 1] + "…") + "'"


def _shown_char(c: str) -> bool:
    """Is `c` shown as it is (printable, or a joiner a word may hold)?"""
    return c.isprintable() or c in "\u200c\u200d"


def printable(text: str, *, lines: bool = False) -> str:
    """`text` with control characters shown escaped (`\\n`, `\\x1b`): a file name holding a
    newline or a terminal escape cannot break a one-line message or repaint the terminal
    (`lines`: keep the newlines between lines). A byte that was not UTF-8 (kept by Python as
    a surrogate) is shown as the byte, `\\xff`; the joiners a word needs (ZWJ, ZWNJ: names
    may hold them) as they are."""
    return "".join(c if _shown_char(c) or (lines and c == "\n")
                   else f"\\x{ord(c) - 0xDC00:02x}" if "\udc80" <= c <= "\udcff"
                   else repr(c)[1:-1] for c in text)


#: The escapes of bash's `$'…'` for the characters it names; the ones Python's repr writes
#: alike, so secret masking knows them (review24: `\\E`, `\\a` showed a secret in full).
_ANSI_C = {"\t": r"\t", "\n": r"\n", "\r": r"\r", "\\": "\\\\", "'": r"\'"}


def _ansi_c(c: str) -> str:
    """One character inside bash's `$'…'`: a byte that was not UTF-8 as that byte (`\\xff`),
    a character as its code point (`\\u00a0`: bash's `\\xa0` would be a byte, review24)."""
    if c in _ANSI_C:
        return _ANSI_C[c]
    if _shown_char(c):
        return c
    if "\udc80" <= c <= "\udcff":
        return f"\\x{ord(c) - 0xDC00:02x}"
    code = ord(c)
    return f"\\x{code:02x}" if code < 0x80 else f"\\u{code:04x}" if code < 0x10000 \
        else f"\\U{code:08x}"


def shell_word(word: str) -> str:
    """`word` quoted as a shell reads it back: `shlex.quote`, or bash's `$'…'` when it holds
    a character that cannot be shown (basics13: inside plain quotes a real tab and a
    backslash and `t` both read `\\t`)."""
    if all(_shown_char(c) for c in word):
        return shlex.quote(word)
    return "$'" + "".join(_ansi_c(c) for c in word) + "'"


def shell_line(argv: Sequence[str]) -> str:
    """An argv as one line a shell reads back as the same words (see `shell_word`)."""
    return " ".join(shell_word(w) for w in argv)


def reads_as_written(script: str) -> bool:
    """Can a shell script be shown as it is written, over its lines? Not when it holds a
    character that would be shown escaped (basics14: a real tab and a backslash and `t`
    both showed `\\t`, two scripts read alike); such a script is shown as its `sh -c $'…'`."""
    return all(_shown_char(c) or c == "\n" for c in script)


def first_line(text: str) -> str:
    """The first line of `text` and how many follow (`true  (+1 more line)`), where one line
    stands for it: a list or table row (basics13: `true\\nrm -rf /data` listed as `true`)."""
    lines = text.strip().splitlines()
    more = len(lines) - 1
    return lines[0] + (f"  (+{plural(more, 'more line')})" if more else "") if lines else ""


#: A byte that was not UTF-8, as Python holds it (a surrogate escape).
_RAW_SURROGATE = re.compile("[\udc80-\udcff]")


def bytes_shown(text: str) -> str:
    """A message of orch's with the bytes of a word that was not UTF-8 shown as bytes
    (`\\xff`), as `printable` shows them (basics12: a path named on the command line was
    said with Python's `\\udcff`)."""
    return _RAW_SURROGATE.sub(lambda m: f"\\x{ord(m[0]) - 0xDC00:02x}", text)


def columns(text: str) -> int:
    """How many terminal columns `text` takes (East Asian wide characters take two, marks
    that sit on the character before them none: combining ones, and Thai vowel signs)."""
    return sum(0 if unicodedata.combining(c) or unicodedata.category(c) in ("Mn", "Me", "Cf")
               else 2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def padded(text: str, width: int) -> str:
    """`text` followed by spaces up to `width` terminal columns (`columns`: a wide character
    takes two), so labels line up on a terminal (fleets18)."""
    return text + " " * (width - columns(text))


def cut(text: str, width: int) -> str:
    """`text` up to `width` characters, a cut one ending in `…` (its start kept)."""
    return text if len(text) <= width else text[:width - 1] + "…"


def fit(text: str, width: int) -> str:
    """`text` cut to `width` columns, keeping its end (a path's file name) behind a `…`."""
    if columns(text) <= width:
        return text
    kept = ""
    for char in reversed(text):
        if columns(char + kept) > width - 1:
            break
        kept = char + kept
    return "…" + kept if width > 0 else ""


#: A CSI escape sequence (colours, cursor moves), which a cut must not split.
_CSI = re.compile(rb"\x1b\[[0-?]*[ -/]*[@-~]")


def clean_cut(data: bytes, cut: int, *, forward: bool) -> int:
    """`cut` moved off the middle of a UTF-8 character or an escape sequence: back to its
    start (the end of a head), or on to its end (the start of a tail)."""
    for _ in range(3):  # continuation bytes: at most 3 after a character's first byte
        if not (forward or cut > 0) or cut >= len(data) or not 0x80 <= data[cut] < 0xC0:
            break
        cut += 1 if forward else -1
    if not 0 < cut < len(data):
        return cut
    esc = data.rfind(b"\x1b", max(0, cut - 64), cut)
    found = _CSI.match(data, esc) if esc >= 0 else None
    if found is not None and found.end() > cut:
        cut = found.end() if forward else esc
    return cut
