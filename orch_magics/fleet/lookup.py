"""Finding a label's containers logs in to the hosts and runs commands there (the engine's
socket, podman's rootless one) before any target's run is recorded: it happens only for an
admitted fleet whose audit log can take the records that follow (a log that cannot be written
stops it before it connects). Fleet runs, fleet copies and forwards all look up through
`resolve_checked`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from ..admission import Gate, Ticket
from ..config.model import LayerSpec
from ..layers.base import Launcher
from ..plan import RunPlan
from .targets import Target, check_found, expand, resolve

#: Raises when the lookup may not happen now (the audit log cannot be written).
Lookup = Callable[[], None]


def recordable(gate: Gate, plan: RunPlan, ticket: Ticket) -> Lookup:
    """The Lookup check of `plan`'s fleet, admitted by `ticket`, through `gate`."""
    return lambda: gate.check_recordable(plan, ticket)


async def resolve_checked(target: Target, base: Launcher, lookup: Lookup) -> list[Target]:
    """`resolve(target)`, checked by `lookup` first when it has containers to find."""
    if target.pending is None:
        return [target]
    lookup()
    return await resolve(target, base)


async def resolve_all(environment: str, layers: Sequence[LayerSpec], base: Launcher,
                      lookup: Lookup) -> list[Target]:
    """Every target of a fleet, containers found by label looked up (none found: an error)."""
    targets = expand(layers)
    found = [t for target in targets for t in await resolve_checked(target, base, lookup)]
    await check_found(environment, targets, found, base)
    return found
