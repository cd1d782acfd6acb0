"""Asking a person on the controlling terminal (as sudo does), even when stdin is a pipe."""

from __future__ import annotations


def ask_on_terminal(question: str) -> str | None:
    """Write `question` to /dev/tty and read one line back; None when there is no terminal."""
    try:
        with open("/dev/tty", "r+", encoding="utf-8", errors="replace") as tty:
            tty.write(question)
            tty.flush()
            answer = tty.readline()
    except OSError:
        return None
    return answer.rstrip("\n") if answer else None
