"""Finding a label's containers logs in to the hosts and runs commands there (the engine's
socket, podman's rootless one) before any target's run is recorded: it happens only for an
admitted fleet whose audit log can take the records that follow (a log that cannot be written
stops it before it connects). Fleet runs, fleet copies and forwards all look up through
`resolve_checked`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import NamedTuple

from ..admission import Gate, Ticket
from ..config.model import LayerSpec
from ..errors import OrchError
from ..layers.base import Launcher
from ..plan import RunPlan
from .limit_names import Names
from .targets import Target, check_found, expand, names_of, resolve, the_one, to_find

#: Raises when the lookup may not happen now (the audit log cannot be written).
Lookup = Callable[[], None]


class Recordable:
    """The audit side of `plan`'s lookups, admitted by `ticket`, through `gate`: called, it
    raises unless one may connect now; `failed` records a host whose containers could not be
    found as the target row it is (fleets25: a refused host, a changed key, an engine out of
    reach left no record, where an ssh fleet's row of the same failure had one)."""

    def __init__(self, gate: Gate, plan: RunPlan, ticket: Ticket) -> None:
        self.gate, self.plan, self.ticket = gate, plan, ticket

    def __call__(self) -> None:
        self.gate.check_recordable(self.plan, self.ticket)

    def failed(self, target: RunPlan, label: str, error: BaseException, began: float
               ) -> str | None:
        """Record that the lookup for target `label` (its `target` plan), begun at `began`
        (monotonic), failed: its id. Its end says how long it was waited for (fleets26: 0 s
        for a host that hung to the timeout)."""
        try:
            record, end = self.gate.open_session(self.gate.vouch(target), self.ticket,
                                                 target.hops, label, began)
        except OrchError:  # the log cannot take it now: the row says why it failed
            return None
        end(error)
        return record


def recordable(gate: Gate, plan: RunPlan, ticket: Ticket) -> Recordable:
    """The Lookup check of `plan`'s fleet, admitted by `ticket`, through `gate`."""
    return Recordable(gate, plan, ticket)


async def resolve_checked(target: Target, base: Launcher, lookup: Lookup) -> list[Target]:
    """`resolve(target)`, checked by `lookup` first when it has containers to find."""
    if target.pending is None:
        return [target]
    lookup()
    return await resolve(target, base)


class Resolved(NamedTuple):
    """A fleet's targets found for a limit: those looked up, and the hosts it left alone."""

    found: list[Target]
    unseen: list[Target]
    names: Names

    def the_one(self, limit: str) -> Target:
        """The single target `limit` keeps, read knowing the hosts not contacted (review43:
        `!web-2`, left alone, then "matched no target")."""
        return the_one(self.found, limit, self.unseen, self.names)


async def resolve_all(environment: str, layers: Sequence[LayerSpec], base: Launcher,
                      lookup: Lookup, limit: str | None = None) -> Resolved:
    """Every target of a fleet `limit` may keep, containers found by label looked up (none
    found: an error); a host the limit keeps none of is never contacted (fleets26: a forward
    to web-1's container failed while web-2 was down)."""
    hosts = expand(layers)
    targets, unseen = to_find(hosts, limit)
    found = [t for target in targets for t in await resolve_checked(target, base, lookup)]
    await check_found(environment, targets, found, base, limit)
    return Resolved(found, unseen, names_of(hosts))
