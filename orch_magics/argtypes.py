"""argparse types and actions both command lines share: `orch` and `%orch` read a value the
same way."""

from __future__ import annotations

import argparse
import re
from collections.abc import Sequence
from typing import Any


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
        given: set[str] = vars(namespace).setdefault("_given_once", set())  # not the value:
        if self.dest in given:  # an option with a default is given once too (magics13)
            raise argparse.ArgumentError(self, "given twice: give it once, with every pattern "
                                               "in it, joined by commas ('web-*,!web-03')"
                                         if self.dest == "limit" else "given twice: give it once")
        given.add(self.dest)
        setattr(namespace, self.dest, values)


class OnceByDefault(argparse.ArgumentParser):
    """A parser whose options taking one value may be given once (magics14: `%orch start
    --name a --name b`, `logs -n 1 -n 3` silently kept the last)."""

    def add_argument(self, *args: Any, **kwargs: Any) -> argparse.Action:
        if args and str(args[0]).startswith("-") and kwargs.get("action") in (None, "store") \
                and kwargs.get("nargs") is None:
            kwargs["action"] = Once
        return super().add_argument(*args, **kwargs)


def dash_value_hint(message: str, words: Sequence[str]) -> str:
    """For argparse's "argument -e/--env: expected one argument" where the word after the
    option starts with `-` (a value argparse takes for an option: `--since -1h`, `-e -X=1`),
    how to give it, as `orch` says it (magics20: the person had given one)."""
    found = re.match(r"argument (\S+): expected one argument", message)
    if found is None:
        return ""
    names = found[1].split("/")
    for option, value in zip(words, words[1:], strict=False):
        if option in names and value.startswith("-") and value != "--":
            return f" (a value of {option} that begins with '-' is written {option}={value})"
    return ""
