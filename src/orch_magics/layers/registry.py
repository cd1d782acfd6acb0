"""Layer kinds by name. Adding a kind: write its module, add one line here."""

from __future__ import annotations

import importlib

from .base import LayerKind

KINDS: dict[str, str] = {
    "local": "orch_magics.layers.local",
    "ssh": "orch_magics.layers.ssh",
    "docker": "orch_magics.layers.docker",
}


def kind_names() -> list[str]:
    return sorted(KINDS)


def get_kind(name: str) -> LayerKind:
    """The kind object (`KIND` in its module). Unknown names raise KeyError."""
    module = importlib.import_module(KINDS[name])
    return module.KIND  # type: ignore[no-any-return]
