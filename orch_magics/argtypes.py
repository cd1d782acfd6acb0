"""argparse types both command lines share: `orch` and `%orch` read a value the same way."""

from __future__ import annotations

import argparse


def count(text: str) -> int:
    """A number of lines or runs: a whole number >= 0 (`-n -2` is a mistake, not a slice)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid int value: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"needs a number >= 0, not {value}")
    return value
