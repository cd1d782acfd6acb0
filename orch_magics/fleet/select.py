"""`--limit`: which targets of a fleet run, as Ansible's `--limit` reads it.

Comma-separated patterns: a glob (`web-0*`, `*/app-1`) or an inventory group name (`web`: the
targets whose hosts came from that group) adds the labels it matches, `!pattern` removes them,
`&pattern` keeps only those that also match. A pattern that matches nothing, or a limit that
selects nothing, is an error naming the labels (and groups) there are.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Collection, Mapping, Sequence

from ..config.suggest import did_you_mean
from ..errors import ConfigError

#: Inventory groups by label (labels of hosts from no inventory have none).
Groups = Mapping[str, Collection[str]]


def select(labels: Sequence[str], limit: str | None, groups: Groups | None = None) -> list[str]:
    """The labels `limit` keeps, in their order (all of them when `limit` is None)."""
    if limit is None:
        return list(labels)
    groups = groups or {}
    words = [w.strip() for w in limit.split(",") if w.strip()]
    if not words:
        raise ConfigError(f"--limit {limit!r} names no pattern")

    def matching(pattern: str) -> set[str]:
        return {label for label in labels if _match(label, pattern, groups.get(label, ()))}

    adds = [w for w in words if w[0] not in "!&"]
    chosen = set().union(*(matching(w) for w in adds)) if adds else set(labels)
    for word in words:
        if word.startswith("!"):
            chosen -= matching(word[1:])
        elif word.startswith("&"):
            chosen &= matching(word[1:])
    for word in words:  # `!web-O3` (a typo) must not run on the host it was to protect
        if not matching(word.lstrip("!&")):
            raise _matches_nothing(word, labels, groups)
    kept = [label for label in labels if label in chosen]
    if not kept:
        raise ConfigError(f"--limit {limit!r} leaves no target")
    return kept


def _match(label: str, pattern: str, groups: Collection[str]) -> bool:
    """A glob on the whole label, on one of its parts (`db-1` matches `bastion/db-1`), or on
    one of the inventory groups the target's hosts are in (`all`: every target, as in Ansible)."""
    return (pattern == "all" or fnmatch.fnmatchcase(label, pattern)
            or "/" not in pattern and any(fnmatch.fnmatchcase(p, pattern)
                                          for p in (*label.split("/"), *groups)))


def _matches_nothing(word: str, labels: Sequence[str], groups: Groups) -> ConfigError:
    shown = ", ".join(labels[:8]) + (", …" if len(labels) > 8 else "")
    known = sorted({g for names in groups.values() for g in names} - {"all"})
    where = f"targets: {shown}" + (f"; groups: {', '.join(known)}" if known else "")
    return ConfigError(f"--limit pattern {word!r} matches no target ({where})",
                       suggestion=did_you_mean(word.lstrip("!&"), [*labels, *known]))
