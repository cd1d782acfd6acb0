"""Where orch's command is among its words: before argparse (`orch run ENV -- CMD`: what
follows `--` is the command's, untouched) and for its errors (the usage of the command typed)."""

from __future__ import annotations

import os
from collections.abc import Sequence


def split_command(argv: list[str]) -> tuple[list[str], list[str]]:
    """`orch run ENV -- CMD ARGS…`: what comes after `--` is the command, untouched: its
    words reach the program as the bytes typed, whatever the locale (`as_typed`)."""
    at = command_at(argv)
    if argv[at:at + 1] == ["run"] and "--" in argv[at:]:
        cut = argv.index("--", at)
        return argv[:cut], [as_typed(word) for word in argv[cut + 1:]]
    return argv, []


def as_typed(word: str) -> str:
    """A command-line word in the text model of commands (UTF-8; undecodable bytes kept as
    surrogates), so that it goes out as the bytes typed. The same word in a UTF-8 locale; in
    a Latin-1 one, `é` (byte E9) stays E9, not the two bytes of its UTF-8."""
    return os.fsencode(word).decode("utf-8", "surrogateescape")


def command_at(words: Sequence[str]) -> int:
    """Where orch's command is in `words` (their length if none): the first word that is
    neither an option of orch's own nor the value of one (`orch -c run ls`: `ls`). The one
    such option that takes a value is -c/--config, also abbreviated (`--conf FILE`), as
    argparse reads it."""
    value = False
    for i, word in enumerate(words):
        if value or word == "--":
            value = False
            continue
        if not word.startswith("-") or word == "-":
            return i
        value = word == "-c" or len(word) > 2 and "--config".startswith(word)
    return len(words)


def command_word(words: Sequence[str]) -> str | None:
    """orch's command in `words` (`run`, `ls`, a word mistyped), or None."""
    at = command_at(words)
    return words[at] if at < len(words) else None
