"""Terminal text for a cell: `\\r` overwrites in place, ANSI colours become HTML classes.

The classes are JupyterLab's own (`ansi-red-fg`, `ansi-bold`, …, styled by the theme as for
`%%bash` output) and survive the sanitizer of untrusted notebooks; 256-colour and true-colour
codes (`38;5;N`, `38;2;R;G;B`) become inline `color`/`background-color` styles, as JupyterLab
renders them in stream output. Every character of the text is HTML-escaped, so output is
never interpreted as markup.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence

#: Any escape sequence: CSI (colours, cursor moves; parameter bytes 0x30-0x3F, as ECMA-48
#: has them: `ESC[38:5:196m` too, browser22) or OSC (titles, links).
ESCAPE = re.compile(r"\x1b\[([0-?]*)([ -/]*[@-~])|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?")
#: The parameters of an SGR (colour/style) sequence.
_SGR = re.compile(r"\x1b\[([0-?]*)m")
_COLOURS = ("black", "red", "green", "yellow", "blue", "magenta", "cyan", "white")
#: The state's mark for reverse video (SGR 7): no class of its own, see `_inverted`.
INVERSE = "inverse"


def keep_colours(text: str) -> str:
    """`text` with every escape sequence removed except colour/style (SGR) ones."""
    return ESCAPE.sub(lambda m: m.group(0) if m.group(2) == "m" else "", text)


class Colours:
    """The colours a stream has set so far: a colour set on one line holds on the next ones
    until reset, as on a terminal (and in `%%bash` output), when its lines are shown in turn."""

    def __init__(self, classes: Sequence[str] = ()) -> None:
        self.classes: list[str] = list(classes)

    def apply(self, text: str) -> None:
        """Take in the colours `text` sets (lines not shown, whose colours hold on)."""
        for code in sgr_codes(text):
            self.classes = _apply_sgr(self.classes, code)

    def html(self, text: str) -> str:
        """Escaped HTML of `text`, SGR colours as `<span class="ansi-…">` (starting with the
        colours set before it), other escapes dropped."""
        out: list[str] = []
        pos = 0
        for match in ESCAPE.finditer(text):
            out.append(_span(text[pos:match.start()], self.classes))
            pos = match.end()
            if match.group(2) == "m":
                self.classes = _apply_sgr(self.classes, match.group(1))
        out.append(_span(text[pos:], self.classes))
        return "".join(out)


def carried(classes: list[str], text: str) -> list[str]:
    """The colours after `text`, starting from `classes`."""
    colours = Colours(classes)
    colours.apply(text)
    return colours.classes


def sgr_codes(text: str) -> list[str]:
    """The SGR parameters that decide the colours at the end of `text`, in order: those from its
    last reset on, each kept at its last place only. Exact, as each sets some attributes and
    the last setting of an attribute wins; and few, however much text there is."""
    last_reset = max(text.rfind("\x1b[0m"), text.rfind("\x1b[m"), text.rfind("\x1b[0;"))
    codes = _SGR.findall(text, max(last_reset, 0))
    return list(dict.fromkeys(reversed(codes)))[::-1]


def _semicolons(params: str) -> str:
    """SGR parameters written with colons (ISO 8613-6: `38:5:196`, `38:2::255:0:0`, the
    curly underline `4:3`) as the semicolon form this module reads."""
    out = []
    for group in params.split(";"):
        parts = group.split(":")
        if parts[0] in ("38", "48", "58") and parts[1:2] == ["2"] and len(parts) >= 6:
            parts = [parts[0], "2", *parts[-3:]]  # the colour space id dropped
        elif parts[0] == "4" and len(parts) > 1:
            parts = ["24" if parts[1] == "0" else "4"]
        elif parts[0] not in ("38", "48", "58"):
            parts = parts[:1]
        out.append(";".join(parts))
    return ";".join(out)


def _inverted(classes: list[str]) -> list[str]:
    """Reverse video as JupyterLab's stream output draws it: the colours swap, and a colour
    not set is the theme's own inverse (notebook16: `ESC[7m` was dropped, `%%bash` showed it)."""
    swap = {"-fg": "-bg", "-bg": "-fg", "color:": "background-color:",
            "background-color:": "color:"}
    out = []
    for c in classes:
        if c == INVERSE:
            continue
        end = next((k for k in ("-fg", "-bg") if c.endswith(k)), None)
        start = next((k for k in ("background-color:", "color:") if c.startswith(k)), None)
        out.append(c[:-3] + swap[end] if end else swap[start] + c[len(start):] if start else c)
    for side, prop in (("-fg", "color:"), ("-bg", "background-color:")):
        if not any(c.endswith(side) or c.startswith(prop) for c in out):
            out.append(f"ansi-default-inverse{side}")
    return out


def _span(text: str, classes: list[str]) -> str:
    """`text` escaped, in a span with the state's classes and styles (`color: …` entries)."""
    if not text:
        return ""
    if "ansi-bold" in classes:  # bold turns a basic colour intense, as JupyterLab draws it
        classes = [f"{c[:-3]}-intense-fg" if c.endswith("-fg") and "-intense" not in c
                   and c[5:-3] in _COLOURS else c for c in classes]  # (browser25: `ls` dirs)
    if INVERSE in classes:
        classes = _inverted(classes)
    escaped = html.escape(text, quote=False)
    names = [c for c in classes if ":" not in c]
    styles = [c for c in classes if ":" in c]
    attrs = (f' class="{" ".join(names)}"' if names else "") + (
        f' style="{"; ".join(styles)}"' if styles else "")
    return f"<span{attrs}>{escaped}</span>" if attrs else escaped


def _rgb(codes: list[int]) -> tuple[str | None, int]:
    """The colour of `5;N` (N ≥ 16, xterm's palette) or `2;R;G;B` at the start of `codes`,
    and how many codes it took; None when it is malformed."""
    if codes[:1] == [5] and len(codes) >= 2 and 16 <= codes[1] <= 255:
        n = codes[1]
        if n < 232:
            steps = (0, 95, 135, 175, 215, 255)
            r, g, b = steps[(n - 16) // 36], steps[(n - 16) // 6 % 6], steps[(n - 16) % 6]
        else:
            r = g = b = 8 + 10 * (n - 232)
        return f"rgb({r}, {g}, {b})", 2
    if codes[:1] == [2] and len(codes) >= 4 and all(0 <= c <= 255 for c in codes[1:4]):
        return f"rgb({codes[1]}, {codes[2]}, {codes[3]})", 4
    return None, 2 if codes[:1] == [5] else 4 if codes[:1] == [2] else len(codes)


def _apply_sgr(classes: list[str], params: str) -> list[str]:
    """The classes after one `ESC[…m`: colours replace colours, 0 resets everything."""
    state = list(classes)
    params = _semicolons(params) if ":" in params else params
    codes = [int(c) if c.isdigit() else 0 for c in params.split(";")] if params else [0]
    i = 0
    while i < len(codes):
        code = codes[i]
        if code in (38, 48):  # 256-colour / true colour: an inline style in place of a class
            rest = codes[i + 1:]
            if rest[:1] == [5] and len(rest) >= 2 and 0 <= rest[1] < 16:  # the theme's own 16
                n = rest[1]
                state = _one_sgr(state, (30 if n < 8 else 82) + n + (10 if code == 48 else 0))
                i += 3
                continue
            colour, took = _rgb(rest)
            if colour is not None:
                fg = code == 38
                state = [c for c in state if not c.endswith("-fg" if fg else "-bg")
                         and not c.startswith("color:" if fg else "background-color:")]
                state.append(f"{'color' if fg else 'background-color'}: {colour}")
            i += 1 + took
            continue
        state = _one_sgr(state, code)
        i += 1
    return state


def _one_sgr(state: list[str], code: int) -> list[str]:
    def without(suffix: str) -> list[str]:  # and the inline colour standing for it
        style = {"-fg": "color:", "-bg": "background-color:"}.get(suffix, "\0")
        return [c for c in state if not c.endswith(suffix) and not c.startswith(style)]

    if code == 0:
        return []
    if code == 1:
        return [*without("-bold"), "ansi-bold"]
    if code == 4:
        return [*without("-underline"), "ansi-underline"]
    if code in (7, 27):  # reverse video: drawn in `_span`, as JupyterLab draws it
        return [c for c in state if c != INVERSE] + ([INVERSE] if code == 7 else [])
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
