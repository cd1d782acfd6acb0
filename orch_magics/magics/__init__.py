"""The IPython front end: `%load_ext orch_magics` registers %orch / %%orch.

- `OrchMagics` (core.py): the magic, one Orchestrator per shell; parser.py parses its line,
  runs.py runs, subcommands.py manages named runs, presenters.py shows runs in the cell.
- `Orch` (settings.py): defaults as traitlets (`%config Orch.tail = 200`).
- `StdinBox` (widget.py): the stdin text box and Send / EOF / Stop buttons.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from ..fleet import FleetResult, LiveFleet
from ..live import LiveRun
from .completion import matcher
from .core import OrchMagics
from .frontend import quiet, stop_runs_on_shutdown
from .settings import Orch, settings_for

if TYPE_CHECKING:
    from ..orchestrator import Orchestrator

#: Values whose display `HandleDisplay` decides (live handles, a fleet's result).
_HANDLES = (LiveRun, LiveFleet, FleetResult)

__all__ = ["Orch", "OrchMagics", "load_ipython_extension", "unload_ipython_extension"]


def load_ipython_extension(shell: Any) -> None:
    """Register the magics, the `Orch` configurable, live-handle display and tab completion.

    Idempotent: a second load (the orch kernel preloads it) changes nothing.
    """
    if any(isinstance(m, OrchMagics) for m in shell.magics_manager.registry.values()):
        return
    settings = next((c for c in shell.configurables if isinstance(c, Orch)), None)
    if settings is None:
        settings = settings_for(shell)
        shell.configurables.append(settings)
    magics = OrchMagics(shell, settings)
    shell.register_magics(magics)
    shell.events.register("pre_run_cell", magics.cell_started)
    shell.events.register("post_run_cell", magics.cell_ended)
    for kind in _HANDLES:
        shell.display_formatter.ipython_display_formatter.for_type(kind, magics.handles)
    shell.Completer.custom_matchers.append(matcher(magics.orchestrator))
    stop_runs_on_shutdown(shell)


def unload_ipython_extension(shell: Any) -> None:
    """Remove the magics, their completion and handle display, and stop every run, fleet and
    forward they started (a reload gets a new Orchestrator: none of them could be reached
    again by name, yet they ran on until the kernel exited)."""
    registry = shell.magics_manager.registry
    interrupted = False
    for name, obj in list(registry.items()):
        if isinstance(obj, OrchMagics):
            del registry[name]
            shell.events.unregister("pre_run_cell", obj.cell_started)
            shell.events.unregister("post_run_cell", obj.cell_ended)
            said = _what_ends(obj.orchestrator)
            try:
                obj.orchestrator.close()
            except KeyboardInterrupt:  # the wait for their ends: they are told to stop, and
                interrupted = True  # a thread closes its connections once they have ended
                threading.Thread(target=obj.orchestrator.close, name="orch-unload",
                                 daemon=True).start()
                continue
            if said:  # `%reload_ext` too: what it ended, and that the next one starts afresh
                print(f"orch_magics unloaded: stopped {said}; the next %load_ext starts "
                      f"afresh (%orch load the config again)")
    for kind in ("line", "cell"):
        shell.magics_manager.magics[kind].pop("orch", None)
    for handle in _HANDLES:
        shell.display_formatter.ipython_display_formatter.pop(handle, None)
    shell.Completer.custom_matchers[:] = [
        m for m in shell.Completer.custom_matchers
        if getattr(m, "matcher_identifier", None) != "orch_magics"]
    for settings in (c for c in shell.configurables if isinstance(c, Orch)):
        settings.keep_in(shell.config)  # a reload starts from them, not from a refused value
    shell.configurables[:] = [c for c in shell.configurables if not isinstance(c, Orch)]
    if interrupted:  # unloaded all the same: half an extension would answer for neither
        shell.extension_manager.loaded.discard(__name__.rpartition(".")[0])  # IPython notes
        raise quiet(KeyboardInterrupt(  # an unload only when it returns: %load_ext would not
            "orch_magics is unloaded, but waiting for its runs to stop was interrupted: they "
            "are still being stopped (INT, TERM, KILL); %load_ext orch_magics loads it again"))


def _what_ends(orch: Orchestrator) -> str:
    """The runs and forwards still going that closing `orch` stops, in a few words ("" if
    none): `%unload_ext` / `%reload_ext` would otherwise end them without a word."""
    names = [row.name for row in orch.ps()  # no exit yet, or one waiting to start again
             if not row.exit or row.state.startswith("restarting")]  # (magics21)
    forwards = len(orch.forwards.list()) if "forwards" in vars(orch) else 0
    parts = [f"{len(names)} named run(s) ({', '.join(names)})"] if names else []
    if unnamed := orch.unnamed_running():  # a cell's blocking run (another thread's)
        parts.append(f"{len(unnamed)} run(s) of a cell ("
                     f"{', '.join(live.plan.name for live in unnamed)})")
    return ", ".join(parts + ([f"{forwards} forward(s)"] if forwards else []))
