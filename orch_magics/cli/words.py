"""Where orch's command is among its words: before argparse (`orch run ENV -- CMD`: what
follows `--` is the command's, untouched) and for its errors (the usage of the command typed)."""

from __future__ import annotations

from collections.abc import Sequence


def split_command(argv: list[str]) -> tuple[list[str], list[str]]:
    """`orch run ENV -- CMD ARGS…`: what comes after `--` is the command, untouched."""
    at = command_at(argv)
    if argv[at:at + 1] == ["run"] and "--" in argv[at:]:
        cut = argv.index("--", at)
        return argv[:cut], argv[cut + 1:]
    return argv, []


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
