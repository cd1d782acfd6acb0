"""Layer kinds by name, found through the `orch_magics.layers` entry-point group.

A kind is any object with the `LayerKind` shape, published by an installed distribution as
``[project.entry-points."orch_magics.layers"] NAME = "package.module:KIND"``: ours are declared
in this package's pyproject, a third party's in its own, and neither edits this file.
`OWN` repeats our declarations (tests/test_layer_imports.py keeps the two equal) so that a
config using only our kinds loads without importing importlib.metadata and reading every
installed distribution's metadata: ~18 ms of each `orch` start with a layer.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import cache
from importlib import import_module
from typing import TYPE_CHECKING

from ..errors import ConfigError, OrchError
from .base import CARRIES, LayerKind

if TYPE_CHECKING:
    from importlib.metadata import EntryPoint

GROUP = "orch_magics.layers"
#: This package's own entry points in GROUP (the same as in its pyproject).
OWN = {
    "local": "orch_magics.layers.local:KIND",
    "ssh": "orch_magics.layers.ssh:KIND",
    "docker": "orch_magics.layers.docker:KIND",
    "sudo": "orch_magics.layers.sudo:KIND",
    "podman": "orch_magics.layers.podman:KIND",
}


@cache
def _entry_points() -> dict[str, EntryPoint]:
    from importlib.metadata import entry_points  # ~13 ms, and ~6 ms to scan

    return {ep.name: ep for ep in entry_points(group=GROUP)}


def kind_names() -> list[str]:
    """Every registered kind's name (reading metadata only: no kind module is imported)."""
    return sorted(OWN.keys() | _entry_points().keys())


def passed_over() -> list[str]:
    """Why each installed plugin kind that is not used is not: its name is one of ours, which
    wins (kinds12: a plugin's `docker` was dropped without a word), or another package
    publishes that name too and its kind is the one used (kinds13)."""
    from importlib.metadata import entry_points

    used = _entry_points()
    found = []
    for ep in entry_points(group=GROUP):  # all, where _entry_points keeps one a name
        name = ep.name
        if name in OWN and ep.value != OWN[name]:
            found.append(f"the installed layer kind {_origin(ep)} is not used: orch's own kind "
                         f"has that name (publish it under another one)")
        elif name not in OWN and _origin(used[name]) != _origin(ep):
            found.append(f"the installed layer kind {_origin(ep)} is not used: "
                         f"{_origin(used[name])} has that name too, and is the one used "
                         f"(uninstall one, or publish it under another name)")
    return found


def _origin(ep: EntryPoint) -> str:
    """`'name' (pkg.mod:KIND from dist 1.0)`."""
    dist = getattr(ep, "dist", None)
    return f"{ep.name!r} ({ep.value}" + (f" from {dist.name} {dist.version}" if dist else "") + ")"


def is_kind(name: str) -> bool:
    """Whether `name` is a registered kind (ours without reading any metadata)."""
    return name in OWN or name in _entry_points()


@cache
def get_kind(name: str) -> LayerKind:
    """The kind object registered as `name`. Unknown names raise KeyError; a third party's
    kind that cannot be loaded, or lacks a kind's shape, raises a ConfigError naming it
    (said again on each call, without importing it again)."""
    if name in OWN:
        module, _, attr = OWN[name].partition(":")
        own: LayerKind = getattr(import_module(module), attr)
        return own
    entry = _entry_points()[name]  # KeyError: no such kind
    if name in _BROKEN:
        raise ConfigError(_BROKEN[name])
    with plugin_code(name, "cannot be loaded", _broken(name)):
        kind: LayerKind = entry.load()
        if not dataclasses.is_dataclass(getattr(kind, "Config", None)) or not all(
                callable(getattr(kind, method, None)) for method in ("label", "wrap")):
            raise TypeError("it is no layer kind: it needs a dataclass `Config`, `label()` "
                            "and `wrap()` (docs/architecture.md)")
        carries = getattr(kind, "carries", None)  # kinds16: read for every chain error
        if carries is not None and (isinstance(carries, str) or not isinstance(
                carries, (set, frozenset, tuple, list)) or not all(
                    need in CARRIES for need in carries)):
            raise TypeError(f"its carries is {carries!r}, not None or a set of 'tcp', "
                            f"'unix', 'here'")
        target = getattr(kind, "target", None)  # kinds18: the user's config was blamed
        if target is not None and target not in {f.name for f in dataclasses.fields(
                kind.Config)}:
            raise TypeError(f"its target {target!r} is no field of its Config (the key the "
                            f"short form `{name} NAME` fills)")
    return kind


#: The words each plugin kind that could not be loaded was refused with.
_BROKEN: dict[str, str] = {}


def _broken(name: str) -> Callable[[str], ConfigError]:
    def refused(words: str) -> ConfigError:
        _BROKEN[name] = words
        return ConfigError(words)
    return refused


@contextmanager
def plugin_code(name: str, what: str, error: Callable[[str], Exception]) -> Iterator[None]:
    """Run code of kind `name`: an exception it raises (but an OrchError, which says itself)
    becomes `error(words)` naming the kind, its plugin and `what` failed, never "a bug in
    orch_magics"; in a kind of ours it stays as it is (a bug, said as one). A plugin's
    SystemExit (one that gives up at import: kinds13, it ended orch with its bare words, for
    configs that never named it too) is its failure too; a Ctrl-C stays one."""
    try:
        yield
    except OrchError:
        raise
    except (Exception, SystemExit) as exc:  # noqa: BLE001  (what a plugin raised is its fault)
        if name in OWN:
            raise
        raise error(plugin_failed(name, what, exc)) from None


def loadable(name: str) -> LayerKind | None:
    """The kind registered as `name`, or None when it cannot be loaded (for listings: one
    broken plugin must not break what names only other kinds)."""
    try:
        return get_kind(name)
    except ConfigError:
        return None


def plugin_failed(name: str, what: str, exc: BaseException) -> str:
    """`layer kind 'k' (pkg.mod:KIND from dist 1.0) cannot be loaded: TypeError: …`: which
    plugin failed, and how, in its own words (never "a bug in orch_magics")."""
    ep = _entry_points().get(name)
    return (f"layer kind {_origin(ep) if ep is not None else repr(name)} {what}: "
            f"{type(exc).__name__}: {exc}")
