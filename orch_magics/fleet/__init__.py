"""Fleets: one environment, many targets — expanded at plan time, run at once, one result.

`targets` expands an environment's layers into labelled targets, `select` applies `--limit`,
`runner` runs each target as an ordinary run under a semaphore with max-fail accounting,
`result` holds the FleetResult, and `api` is what the Orchestrator's methods delegate to.
"""

from .api import FleetInterrupted, Fleets, LiveFleet
from .options import FleetOptions
from .result import FleetResult
from .runner import FleetRun, TargetRow
from .targets import Target, describe, expand

__all__ = ["FleetInterrupted", "FleetOptions", "FleetResult", "FleetRun", "Fleets", "LiveFleet",
           "Target", "TargetRow", "describe", "expand"]
