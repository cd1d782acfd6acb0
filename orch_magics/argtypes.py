"""argparse types and actions both command lines share: `orch` and `%orch` read a value the
same way."""

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


class Once(argparse.Action):
    """An option that may be given once: a second `--limit '!db-1'` silently replaced the
    first, so a fleet ran on the host the first one left out."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: object, option_string: str | None = None) -> None:
        if getattr(namespace, self.dest, None) is not None:  # magics13: --out r --out s
            raise argparse.ArgumentError(self, "given twice: give it once, with every pattern "
                                               "in it, joined by commas ('web-*,!web-03')"
                                         if self.dest == "limit" else "given twice: give it once")
        setattr(namespace, self.dest, values)
