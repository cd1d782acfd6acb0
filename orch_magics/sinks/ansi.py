"""Terminal text for a cell: `\\r` overwrites in place, ANSI colours become HTML classes.

The classes are JupyterLab's own (`ansi-red-fg`, `ansi-bold`, …, styled by the theme as for
`%%bash` output) and survive the sanitizer of untrusted notebooks; every character of the text
is HTML-escaped, so output is never interpreted as markup.
"""

from __future__ import annotations

import html
import re

#: Any escape sequence: CSI (colours, cursor moves) or OSC (titles, links).
ESCAPE = re.compile(r"\x1b\[([0-9;?]*)([ -/]*[@-~])|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?")
_COLOURS = ("black", "red", "green", "yellow", "blue", "magenta", "cyan", "white")


def keep_colours(text: str) -> str:
    """`text` with every escape sequence removed except colour/style (SGR) ones."""
    return ESCAPE.sub(lambda m: m.group(0) if m.group(2) == "m" else "", text)


def to_html(text: str) -> str:
    """Escaped HTML of `text`, SGR colours as `<span class="ansi-…">`, other escapes dropped."""
    out: list[str] = []
    classes: list[str] = []
    pos = 0
    for match in ESCAPE.finditer(text):
        out.append(_span(text[pos:match.start()], classes))
        pos = match.end()
        if match.group(2) == "m":
            classes = _apply_sgr(classes, match.group(1))
    out.append(_span(text[pos:], classes))
    return "".join(out)


def _span(text: str, classes: list[str]) -> str:
    if not text:
        return ""
    escaped = html.escape(text, quote=False)
    return f'<span class="{" ".join(classes)}">{escaped}</span>' if classes else escaped


def _apply_sgr(classes: list[str], params: str) -> list[str]:
    """The classes after one `ESC[…m`: colours replace colours, 0 resets everything."""
    state = list(classes)
    codes = [int(c) if c.isdigit() else 0 for c in params.split(";")] if params else [0]
    i = 0
    while i < len(codes):
        code = codes[i]
        if code in (38, 48):  # 256-colour / true colour: not a theme class, skip its arguments
            i += 3 if codes[i + 1:i + 2] == [5] else 5
            continue
        state = _one_sgr(state, code)
        i += 1
    return state


def _one_sgr(state: list[str], code: int) -> list[str]:
    def without(suffix: str) -> list[str]:
        return [c for c in state if not c.endswith(suffix)]

    if code == 0:
        return []
    if code == 1:
        return [*without("-bold"), "ansi-bold"]
    if code == 4:
        return [*without("-underline"), "ansi-underline"]
    if code == 22:
        return without("-bold")
    if code == 24:
        return without("-underline")
    for base, suffix, intense in ((30, "-fg", ""), (40, "-bg", ""),
                                  (90, "-fg", "-intense"), (100, "-bg", "-intense")):
        if base <= code < base + 8:
            return [*without(suffix), f"ansi-{_COLOURS[code - base]}{intense}{suffix}"]
    if code in (39, 49):
        return without("-fg" if code == 39 else "-bg")
    return state
