"""What an environment or a service may be called: a name every front end can type and show."""

from __future__ import annotations

import re
import unicodedata

from .source import Path_, Source

#: Format characters a word may need (Persian, Indic scripts, emoji): not refused in names.
JOINERS = "\u200c\u200d"


def check_name(kind: str, name: str, path: Path_, src: Source) -> None:
    """Refuse a name no front end can take or show: one read as an option (`-x`), one with
    spaces around it (shown as the name without them), one holding control or format
    characters (an escape sequence, a line break or a bidi override would reach the terminal
    in `orch ls` and in every message naming it) or characters shown as nothing, or one
    mixing scripts whose letters look alike (`pr\u043ed` is not `prod`)."""
    if name.startswith("-"):
        raise src.error(path, f"{kind} name {name!r} starts with '-': command lines would "
                              f"read it as an option", at_key=True)
    if name != name.strip():  # basics12: `prod ` next to a protected `prod` listed as it
        raise src.error(path, f"{kind} name {name!r} starts or ends with a space: it would "
                              f"show as {name.strip()!r}, another name", at_key=True)
    if (unseen := next((c for c in name if _INVISIBLE.match(c)), None)) is not None:
        raise src.error(path, f"{kind} name {name!r} holds U+{ord(unseen):04X} "  # basics13
                              f"({unicodedata.name(unseen, 'a character shown as nothing')}),"
                              f" shown as nothing: it would look like another name",
                        at_key=True)
    if kind == "environment" and "," in name:
        raise src.error(path, f"environment name {name!r} holds ',': ORCH_CONFIRM lists "
                              f"environments separated by commas, so it could never name it",
                        at_key=True)
    if any(unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp") and c not in JOINERS
           for c in name):
        raise src.error(path, f"{kind} name {name!r} holds a control character: names are "
                              f"shown on terminals and typed on command lines", at_key=True)
    if (mixed := _mixed_scripts(name)) is not None:
        raise src.error(path, f"{kind} name {name!r} mixes {mixed}: such a name can look "
                              f"like another one exactly (a protected environment's): write "
                              f"it in one script", at_key=True)


#: Characters a terminal shows as nothing (Unicode's default-ignorable ones that are no
#: format character, and the blank Hangul fillers and braille pattern): `prod` + U+3164 is
#: listed as `prod`. The joiners a word may need are format characters, let through above.
_INVISIBLE = re.compile("[\u034f\u115f\u1160\u17b4\u17b5\u180b-\u180f\u2800\u3164"
                        "\ufe00-\ufe0f\uffa0\U0001bca0-\U0001bca3\U0001d173-\U0001d17a"
                        "\U000e0000-\U000e0fff]")

#: Scripts whose letters look alike (UTS #39's confusables are mostly among these three): a
#: name may use one of them, never two.
_LOOK_ALIKE = ("LATIN", "CYRILLIC", "GREEK")


def _mixed_scripts(name: str) -> str | None:
    """`Latin and Cyrillic letters (о is CYRILLIC SMALL LETTER O)` when `name` mixes scripts
    whose letters look alike, else None."""
    first: dict[str, str] = {}
    for char in name:
        if char.isalpha():
            script = unicodedata.name(char, "").split(" ")[0]
            if script in _LOOK_ALIKE:
                first.setdefault(script, char)
    if len(first) < 2:
        return None
    scripts = list(first)
    odd = first[scripts[-1]]
    return (f"{' and '.join(s.title() for s in scripts)} letters ({odd} is "
            f"{unicodedata.name(odd)})")
