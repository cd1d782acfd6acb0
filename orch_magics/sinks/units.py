"""Counts for people: one rendering of sizes and of "1 line / 2 lines" for every text."""

from __future__ import annotations


def human_size(n: float) -> str:
    """`512 B`, `1.5 KiB`, `3.2 MiB`, `1.0 GiB`."""
    value = float(n)
    for unit in ("B", "KiB", "MiB"):
        if value < 1024:
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GiB"


def plural(n: int, word: str) -> str:
    """`1 line`, `2 lines`, `0 lines`."""
    return f"{n} {word}" + ("" if n == 1 else "s")
