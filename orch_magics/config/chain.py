"""Whether each layer of an environment can follow the one before it, known before connecting.

An ssh hop needs a place that carries a TCP connection (this machine, or an ssh host); a
container layer needs its engine's unix socket reached from this machine (through this machine
or ssh), or, for a tcp:// engine, to be the first layer. sudo and containers carry neither, so
`ssh → sudo root → docker` could never run: `orch check` says so with the layer's file:line
instead of the run failing at the docker hop. Kinds that do not declare `carries`/`needs`
(see layers.base.LayerKind) are not checked.

`here_problem` is `orch check`'s look at this machine, not at the config (no load does it: an
unset variable must not stop the use of other environments): what a first hop would meet here,
such as podman's socket from CONTAINER_HOST (or docker's from DOCKER_HOST) not being there.
"""

from __future__ import annotations

import contextlib
import functools

from ..errors import ConfigError, LayerError, OrchError
from ..layers.base import CARRIES
from ..layers.registry import get_kind, kind_names, loadable, plugin_code
from .model import LayerSpec
from .source import Path_, Source

_WHAT = {"tcp": "a connection to another host",
         "unix": "its engine's unix socket, reached from this machine",
         "here": "to be on this machine (a tcp:// engine)"}


def _who(need: str) -> str:
    """Which places offer `need`: this machine and the kinds that say they carry it."""
    if need == "here":
        return "it must be the first layer"
    kinds = [name for name in kind_names()  # a plugin that cannot load carries nothing
             if need in (getattr(loadable(name), "carries", None) or ())]
    verb = "forward" if need == "unix" else "carry"
    return f"only this machine and {' and '.join(kinds) or 'no'} layers {verb} one"


def check_chain(env: str, layers: tuple[LayerSpec, ...], path: Path_, src: Source) -> None:
    """Raise a ConfigError at the first layer its place cannot carry."""
    offered: frozenset[str] = CARRIES
    before = "this machine"
    for i, layer in enumerate(layers):
        kind = get_kind(layer.type)
        needs = getattr(kind, "needs", None)
        with plugin_code(layer.type, "failed in needs()",
                         functools.partial(src.error, path + (i,))):
            need = needs(layer.config) if needs is not None else None
            if need is not None and need not in _WHAT:
                raise ValueError(f"needs() said {need!r}, which is none of "
                                 f"{', '.join(map(repr, _WHAT))}")
        if need is not None and need not in offered:
            raise src.error(path + (i,), f"environment {env!r}: {layer.label} cannot follow "
                                         f"{before}: it needs {_WHAT[need]}, and {_who(need)}")
        if not hasattr(kind, "carries"):
            return  # a kind that does not say: nothing after it can be judged
        if kind.carries is not None:
            offered, before = kind.carries, layer.label


def unseen_setting(env: str, layers: tuple[LayerSpec, ...]) -> ConfigError | None:
    """The error of a layer that sets variables or a directory right before a hop reached
    from its place (ssh, a container's engine): no command is started through it, and its
    settings were dropped without a word (chains12). Said when the environment is used or
    checked, not when the config loads: the other environments run (review21)."""
    setting: LayerSpec | None = None
    for layer in layers:
        kind = get_kind(layer.type)
        needs = getattr(kind, "needs", None)
        with contextlib.suppress(Exception):  # a plugin's failure is said where it loads
            if needs is not None and needs(layer.config) is not None and setting is not None:
                where = f"{setting.location}: " if setting.location else ""
                return ConfigError(f"{where}environment {env!r}: {setting.label} before "
                                   f"{layer.label} has no effect: {layer.label} is reached "
                                   f"from this place, and no command is started through "
                                   f"{setting.label}; write it after {layer.label}")
        carries: frozenset[str] | None = getattr(kind, "carries", frozenset())
        if carries is not None:
            setting = None
        elif getattr(kind, "sets_for_commands", lambda config: False)(layer.config):
            setting = layer
    return None


def here_problem(layers: tuple[LayerSpec, ...]) -> tuple[LayerSpec, OrchError] | None:
    """What this machine lacks for a layer that starts here (the place before it is this
    machine), in the words of its run; None when nothing is seen without connecting."""
    for layer in layers:
        kind = get_kind(layer.type)
        preflight = getattr(kind, "preflight", None)
        if preflight is not None:
            try:
                with plugin_code(layer.type, "failed its preflight", LayerError):
                    preflight(layer.config, layer.label)
            except OrchError as exc:
                return layer, exc
        if getattr(kind, "carries", frozenset()) is not None:
            return None  # past this layer the place is not this machine (or is not known)
    return None
