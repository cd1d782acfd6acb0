"""Fleets: one environment, many targets — expanded at plan time, run at once, one result.

`targets` expands an environment's layers into labelled targets, `select` applies `--limit`,
`runner` runs each target as an ordinary run under a semaphore with max-fail accounting
(`rows`: the live state of each target),
`result` holds the FleetResult, and `api` is what the Orchestrator's methods delegate to.
Names load on first use (PEP 562), so a single run that only checks `fleet.options` does not
import the runner, the result and the API at start-up.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .api import FleetInterrupted, Fleets, LiveFleet
    from .options import FleetOptions
    from .result import FleetResult
    from .rows import TargetRow
    from .runner import FleetRun
    from .targets import Target, describe, expand

_HOME = {"FleetInterrupted": "api", "Fleets": "api", "LiveFleet": "api", "FleetOptions": "options",
         "FleetResult": "result", "FleetRun": "runner", "TargetRow": "rows",
         "Target": "targets", "describe": "targets", "expand": "targets"}

__all__ = ["FleetInterrupted", "FleetOptions", "FleetResult", "FleetRun", "Fleets", "LiveFleet",
           "Target", "TargetRow", "describe", "expand"]


def __getattr__(name: str) -> object:
    if name not in _HOME:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f".{_HOME[name]}", __name__), name)
