"""How a fleet's limit reads a plain name: a host where a word adds, a group where it excludes
or intersects (as Ansible reads a name that is both), by the fleet's hosts as expanded."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass

#: Inventory groups by label (labels of hosts from no inventory have none).
Groups = Mapping[str, Collection[str]]


@dataclass(frozen=True)
class Names:
    """How a limit's plain names read in one fleet: `hosts`, the parts of its hosts' labels,
    and `groups`, their inventory groups, taken before any host is left out or its containers
    are found (review34: `!db` read as the group in a fleet of hosts, as the host once some
    were not contacted, and a container named like a group turned the group into a name)."""

    hosts: frozenset[str]
    groups: frozenset[str]

    @classmethod
    def of(cls, labels: Iterable[str], groups: Groups) -> Names:
        return cls(frozenset(part for label in labels for part in label.split("/")),
                   frozenset(group for names in groups.values() for group in names))
