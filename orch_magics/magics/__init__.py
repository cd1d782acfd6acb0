"""The IPython front end: `%load_ext orch_magics` registers %orch / %%orch.

- `OrchMagics` (core.py): the magics, one Orchestrator per shell.
- `Orch` (settings.py): defaults as traitlets (`%config Orch.tail = 200`).
- `StdinBox` (widget.py): the stdin text box and Send / EOF / Stop buttons.
- The live cell display is `orch_magics.sinks.display.DisplaySink`.
"""

from __future__ import annotations

from typing import Any

from .core import OrchMagics
from .settings import Orch

__all__ = ["Orch", "OrchMagics", "load_ipython_extension", "unload_ipython_extension"]

_KEYS = ("%orch", "%%orch")


def load_ipython_extension(shell: Any) -> None:
    """Register the magics, the `Orch` configurable and tab completion (idempotent)."""
    if any(isinstance(m, OrchMagics) for m in shell.magics_manager.registry.values()):
        return
    settings = next((c for c in shell.configurables if isinstance(c, Orch)), None)
    if settings is None:
        settings = Orch(parent=shell)
        shell.configurables.append(settings)
    magics = OrchMagics(shell, settings)
    shell.register_magics(magics)

    def complete(_shell: Any, event: Any) -> list[str]:
        return magics.completions(event.line)

    for key in _KEYS:
        shell.set_hook("complete_command", complete, str_key=key)


def unload_ipython_extension(shell: Any) -> None:
    """Remove the magics and their completion (runs in flight keep running)."""
    registry = shell.magics_manager.registry
    for name, obj in list(registry.items()):
        if isinstance(obj, OrchMagics):
            del registry[name]
    for kind in ("line", "cell"):
        shell.magics_manager.magics[kind].pop("orch", None)
    dispatcher = shell.strdispatchers.get("complete_command")
    if dispatcher is not None:
        for key in _KEYS:
            dispatcher.strs.pop(key, None)
    shell.configurables[:] = [c for c in shell.configurables if not isinstance(c, Orch)]
