"""The layered executor: a fold of layers over a base launcher (first layer is outermost)."""

from __future__ import annotations

import functools
from collections.abc import Iterable

from .config.model import LayerSpec
from .errors import LayerError
from .layers.base import Launcher
from .layers.local import LocalLauncher
from .layers.registry import get_kind, plugin_code
from .process.command import Command
from .process.handle import ProcessHandle


class LayeredExecutor:
    """Immutable stack of layers over a base launcher; `launch` builds the chain and runs.

    >>> LayeredExecutor(LocalLauncher()).with_layer(bastion).with_layer(app)   # doctest: +SKIP
    """

    def __init__(self, base: Launcher | None = None, layers: Iterable[LayerSpec] = ()) -> None:
        self.base = base or LocalLauncher()
        self.layers: tuple[LayerSpec, ...] = tuple(layers)

    def with_layer(self, layer: LayerSpec) -> LayeredExecutor:
        """A new executor with `layer` one hop further in than the existing ones."""
        return LayeredExecutor(self.base, (*self.layers, layer))

    def build(self) -> Launcher:
        """Wrap the base in each layer in order: the *first* layer is the outermost hop."""
        launcher = self.base
        for hop, spec in enumerate(self.layers, 1):
            with plugin_code(spec.type, "failed to wrap its layer", functools.partial(
                    LayerError, hop=hop, layer=spec.label)):
                launcher = get_kind(spec.type).wrap(spec.config, launcher, spec.label)
        return launcher

    async def launch(self, command: Command) -> ProcessHandle:
        """Start `command` at the innermost layer and return its live handle."""
        return await self.build().launch(command)

    def describe(self) -> str:
        return " → ".join(["local", *(spec.label for spec in self.layers)])

    def __repr__(self) -> str:
        return f"LayeredExecutor({self.describe()})"
