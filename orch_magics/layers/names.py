"""What a layer accepts as the name of its target (an ssh host, a container).

Checked when a config loads, so `orch check` catches a name no run could reach: before, an
empty host or one with a stray space passed the check and failed only when a run tried to
resolve it, and a name starting with `-` reads as an option to every ssh and docker tool.
"""

from __future__ import annotations


def check_target_name(name: str, *, ranges: bool = True) -> None:
    """Raise ValueError (a config check) unless `name` can name a host or a container;
    `ranges`: where a name may be a range (`web-[01:12]`), a bracket says how one is written."""
    if not name:
        raise ValueError("the name is empty")
    bad = next((c for c in name if c.isspace() or not c.isprintable()), None)
    if bad is not None:  # a space, a control or an invisible one (U+200B): never in a name
        what = "a space" if bad == " " else f"the character {bad!r}"
        raise ValueError(f"it has {what}: a host or container name has none")
    if name.startswith("-"):
        raise ValueError("it starts with '-': a host or container name never does")
    if "[" in name or "]" in name:  # a range is expanded before names are checked
        hint = " (a range is written [01:12] or [a:f])" if ranges else ""
        raise ValueError(f"it has {'[' if '[' in name else ']'!r}: a host or container name "
                         f"has none{hint}")
