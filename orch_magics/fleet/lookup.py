"""Finding a label's containers, audited: the lookup logs in to the hosts and runs commands
there (the engine's socket, podman's rootless one), so like a run it is recorded before it
connects, as a session (`orch-resolve label app=web`, then `closed`), and a log that cannot be
written stops it. Fleet runs, fleet copies and forwards all look up through `resolve_audited`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from ..admission import Gate, Ticket
from ..config.model import LayerSpec
from ..layers.base import Launcher
from ..plan import RunPlan
from .targets import Target, check_found, expand, resolve

#: Records that a target's containers are about to be looked up (raises when that cannot be
#: recorded); the callable returned records how the lookup ended.
Lookup = Callable[[Target], Callable[[BaseException | None], None]]


def sessions(gate: Gate, plan: RunPlan, ticket: Ticket) -> Lookup:
    """The Lookup that audits each lookup of `plan`'s fleet through `gate`, as `ticket` let
    the fleet in."""
    def lookup(target: Target) -> Callable[[BaseException | None], None]:
        at = target.pending or 0
        spec = target.layers[at]
        written = spec.fanout.written if spec.fanout else spec.label  # `label app=web`
        chain = " → ".join(["local", *(s.label for s in target.layers[:at + 1])])
        return gate.open_session(plan.titled(["orch-resolve", *written.split(" ", 1)]),
                                 ticket, chain, target.label or None)
    return lookup


async def resolve_audited(target: Target, base: Launcher, lookup: Lookup) -> list[Target]:
    """`resolve(target)`, recorded first by `lookup` when it has containers to find."""
    if target.pending is None:
        return [target]
    ended = lookup(target)
    try:
        found = await resolve(target, base)
    except BaseException as exc:
        ended(exc)
        raise
    ended(None)
    return found


async def resolve_all(environment: str, layers: Sequence[LayerSpec], base: Launcher,
                      lookup: Lookup) -> list[Target]:
    """Every target of a fleet, containers found by label looked up (none found: an error)."""
    targets = expand(layers)
    found = [t for target in targets for t in await resolve_audited(target, base, lookup)]
    check_found(environment, targets, found)
    return found
