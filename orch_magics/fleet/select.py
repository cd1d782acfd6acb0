"""`--limit`: which targets of a fleet run, as Ansible's `--limit` reads it.

Comma-separated patterns: a glob (`web-0*`, `*/app-1`) adds the labels it matches, `!glob`
removes them, `&glob` keeps only those that also match. A limit that selects nothing is an
error naming the labels there are.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Sequence

from ..config.suggest import did_you_mean
from ..errors import ConfigError


def select(labels: Sequence[str], limit: str | None) -> list[str]:
    """The labels `limit` keeps, in their order (all of them when `limit` is None)."""
    if limit is None:
        return list(labels)
    words = [w.strip() for w in limit.split(",") if w.strip()]
    if not words:
        raise ConfigError(f"--limit {limit!r} names no pattern")
    adds = [w for w in words if w[0] not in "!&"]
    chosen = {label for label in labels if any(_match(label, w) for w in adds)} if adds \
        else set(labels)
    for word in words:
        if word.startswith("!"):
            chosen -= {label for label in chosen if _match(label, word[1:])}
        elif word.startswith("&"):
            chosen &= {label for label in labels if _match(label, word[1:])}
    for word in adds:
        if not any(_match(label, word) for label in labels):
            raise _matches_nothing(word, labels)
    kept = [label for label in labels if label in chosen]
    if not kept:
        raise ConfigError(f"--limit {limit!r} leaves no target")
    return kept


def _match(label: str, pattern: str) -> bool:
    """A glob on the whole label, or on one of its parts (`db-1` matches `bastion/db-1`)."""
    return (fnmatch.fnmatchcase(label, pattern)
            or "/" not in pattern and any(fnmatch.fnmatchcase(p, pattern)
                                          for p in label.split("/")))


def _matches_nothing(word: str, labels: Sequence[str]) -> ConfigError:
    shown = ", ".join(labels[:8]) + (", …" if len(labels) > 8 else "")
    return ConfigError(f"--limit pattern {word!r} matches no target (targets: {shown})",
                       suggestion=did_you_mean(word, list(labels)))
