"""The layered executor: a fold of layers over a base launcher (first layer is outermost)."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Iterable

from .config.model import LayerSpec
from .errors import LayerError
from .layers.base import Launcher
from .layers.local import LocalLauncher
from .layers.registry import OWN, get_kind, plugin_code
from .process.command import Command
from .process.handle import ProcessHandle
from .process.made import MADE


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
            error = functools.partial(LayerError, hop=hop, layer=spec.label)
            with plugin_code(spec.type, "failed to wrap its layer", error):
                launcher = get_kind(spec.type).wrap(spec.config, launcher, spec.label)
                if spec.type not in OWN:
                    _checked_launcher(launcher)
            if spec.type not in OWN:
                _launch_guarded(launcher, spec.type, error)
        return launcher

    async def launch(self, command: Command) -> ProcessHandle:
        """Start `command` at the innermost layer and return its live handle."""
        return await self.build().launch(command)

    def describe(self) -> str:
        return " → ".join(["local", *(spec.label for spec in self.layers)])

    def __repr__(self) -> str:
        return f"LayeredExecutor({self.describe()})"


def _checked_launcher(launcher: object) -> None:
    """What a plugin's wrap() returned is a launcher that adopted its inner one (kinds13:
    None, or a Launcher that skipped `adopt`, was an orch "internal error")."""
    if not callable(getattr(launcher, "launch", None)):
        raise TypeError(f"its wrap() returned {type(launcher).__name__}, not a Launcher")
    if not hasattr(launcher, "context"):
        raise TypeError(f"its wrap() returned a {type(launcher).__name__} that did not call "
                        f"self.adopt(inner, label) (a Launcher's first line)")


async def _stopped(handles: list[ProcessHandle]) -> None:
    """Stop what a launch that did not return made (INT, TERM, KILL, half a second apart)."""
    for handle in handles:
        handle.discard_output()
    await asyncio.gather(*(asyncio.shield(h.stop((0.5, 0.5))) for h in handles),
                         return_exceptions=True)


def _launch_guarded(launcher: Launcher, kind: str, error: Callable[[str], Exception]) -> None:
    """Make a plugin's launcher say an exception of its `launch` as its wrap's is said, naming
    the kind and its plugin (kinds12: a KeyError there was "a bug in orch_magics", and a
    notebook's traceback)."""
    # a launcher the plugin hands out again is guarded again, for this chain's hop (review25)
    launch = getattr(launcher.launch, "orch_unguarded", launcher.launch)

    async def guarded(command: Command) -> ProcessHandle:
        outer, made = MADE.get(), list[ProcessHandle]()
        token = MADE.set(made)
        try:
            with plugin_code(kind, "failed to launch", error):
                handle = await launch(command)
                if not isinstance(handle, ProcessHandle):  # kinds13: an orch "internal error"
                    raise TypeError(f"its launch() returned {type(handle).__name__}, not a "
                                    f"ProcessHandle")
        except BaseException:  # kinds16: failed or given up after its inner launch started
            await _stopped(made)  # the command: it ran on, an orphan
            raise
        finally:
            MADE.reset(token)
        if outer is not None:  # an outer plugin that gives up stops these too
            outer.extend(made)
        return handle

    guarded.orch_unguarded = launch  # type: ignore[attr-defined]  # the plugin's own
    try:
        launcher.launch = guarded  # type: ignore[method-assign]
    except AttributeError:  # a launcher with __slots__: its errors stay its own
        pass
