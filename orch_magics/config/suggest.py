"""Did-you-mean: the nearest known name to a misspelt one."""

from __future__ import annotations

from collections.abc import Iterable


def edit_distance(a: str, b: str) -> int:
    """Damerau-Levenshtein distance (adjacent transpositions count as one edit)."""
    prev2: list[int] = []
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i] + [0] * len(b)
        for j, cb in enumerate(b, 1):
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb))
            if i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                cur[j] = min(cur[j], prev2[j - 2] + 1)
        prev2, prev = prev, cur
    return prev[-1]


def did_you_mean(name: str, candidates: Iterable[str], max_distance: int = 3) -> str | None:
    """The closest candidate within `max_distance` edits (case-insensitive), or None."""
    best: tuple[int, str] | None = None
    for cand in candidates:
        if cand.lower() == name.lower():
            return cand
        d = edit_distance(name.lower(), cand.lower())
        limit = min(max_distance, max(1, len(cand) // 2))
        if d <= limit and (best is None or d < best[0]):
            best = (d, cand)
    return best[1] if best else None
