"""The checks a config field's metadata asks for (bounds `ge`, `gt`, `le`; its own `check`),
and the rule that an optional string setting is never given empty."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

#: Bound metadata keys: (test that must hold, how a failure reads, JSON Schema keyword).
BOUNDS: dict[str, tuple[Callable[[Any, Any], bool], str, str]] = {
    "ge": (lambda v, b: v >= b, "at least", "minimum"),
    "gt": (lambda v, b: v > b, "greater than", "exclusiveMinimum"),
    "le": (lambda v, b: v <= b, "at most", "maximum"),
}


def field_checks(f: dataclasses.Field[Any]) -> tuple[Callable[[Any], None], ...]:
    """A field's bounds (`ge`, `gt`, `le` metadata), its `check` callable, then an optional
    string's refusal of "" (`user: ""` ran as the image's root: config7)."""
    checks = list(bound_checks(f))
    if "check" in f.metadata:  # its own words first (`the directory is empty: …`)
        checks.append(f.metadata["check"])
    if refuses_empty(f):
        checks.append(_not_empty)
    return tuple(checks)


def bound_checks(f: dataclasses.Field[Any]) -> tuple[Callable[[Any], None], ...]:
    """A number field's bounds (`ge`, `gt`, `le` metadata) alone."""
    return tuple(_bound(key, f.metadata[key]) for key in BOUNDS if key in f.metadata)


def refuses_empty(f: dataclasses.Field[Any]) -> bool:
    """Whether a field is an optional string, which "" (or blanks) would only leave unset (a
    layer setting that placeholders leave empty is refused when a run is planned: plan.py)."""
    return f.default is None and f.type in ("str | None", "Optional[str]") \
        and not f.metadata.get("empty_ok")


def _not_empty(value: object) -> None:
    if isinstance(value, str) and not value.strip():
        raise ValueError("is empty: give a value, or leave the key out for the default")


def _bound(key: str, bound: Any) -> Callable[[Any], None]:
    holds, words, _schema_keyword = BOUNDS[key]

    def check(value: Any) -> None:
        if isinstance(value, (int, float)) and not holds(value, bound):
            shown = f"a number of {len(str(abs(value)))} digits" \
                if isinstance(value, int) and abs(value) >= 10 ** 30 else repr(value)
            raise ValueError(f"must be {words} {bound}, not {shown}")
    return check
