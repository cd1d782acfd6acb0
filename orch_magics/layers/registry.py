"""Layer kinds by name, found through the `orch_magics.layers` entry-point group.

A kind is any object with the `LayerKind` shape, published by an installed distribution as
``[project.entry-points."orch_magics.layers"] NAME = "package.module:KIND"``: ours are declared
in this package's pyproject, a third party's in its own, and neither edits this file.
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING

from .base import LayerKind

if TYPE_CHECKING:
    from importlib.metadata import EntryPoint

GROUP = "orch_magics.layers"


@cache
def _entry_points() -> dict[str, EntryPoint]:
    from importlib.metadata import entry_points  # ~13 ms: only a config with layers pays it

    return {ep.name: ep for ep in entry_points(group=GROUP)}


def kind_names() -> list[str]:
    """Every registered kind's name (reading metadata only: no kind module is imported)."""
    return sorted(_entry_points())


@cache
def get_kind(name: str) -> LayerKind:
    """The kind object registered as `name`. Unknown names raise KeyError."""
    kind: LayerKind = _entry_points()[name].load()
    return kind
