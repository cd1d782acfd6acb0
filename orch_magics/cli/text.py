"""Text the CLI shows but did not write (file names, messages that quote them)."""

from __future__ import annotations


def printable(text: str, *, lines: bool = False) -> str:
    """`text` with control characters shown escaped (`\\n`, `\\x1b`): a file name holding a
    newline or a terminal escape cannot break a one-line message or repaint the terminal
    (`lines`: keep the newlines between lines)."""
    return "".join(c if c.isprintable() or (lines and c == "\n") else repr(c)[1:-1]
                   for c in text)
