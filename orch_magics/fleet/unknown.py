"""What a `--limit` can say of a host whose containers are not known: one whose lookup failed
(its row says why) or one never contacted, because the limit keeps none of its containers.

A container of host `h` is labelled `h/NAME`; with NAME unknown, a limit word `surely` selects
all of them when it names the host itself (`web-3`, `web-*`, `web-3/*`, a group of it), and
`could` select one when it may name a container there (a glob, a regular expression, a name no
host has). A host is looked up, or keeps its row, only while the limit `keeps` it.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .limit_names import Names
from .select import matcher, ranges_expanded

if TYPE_CHECKING:  # targets.py judges its limits here
    from .targets import Target

#: The first glob character of a pattern: what comes before it is matched as written.
_GLOB = re.compile(r"[*?\[]")


@dataclass(frozen=True)
class Unknown:
    """The names a limit word is judged by while some hosts' containers are not known."""

    #: Parts of the hosts' labels and their inventory groups: a word naming one is a host's.
    hosts: frozenset[str]
    #: Names of the containers found on the hosts that answered (`db-1` may run there too).
    found: frozenset[str]
    #: How plain names read, as `select` reads them (a host where a word adds, a group where
    #: it excludes or intersects).
    names: Names

    @classmethod
    def of(cls, targets: Sequence[Target], names: Names) -> Unknown:
        """From a fleet's targets: found ones (`h/NAME`) and unfound hosts (still pending)."""
        found = {t.label.rpartition("/")[2] for t in targets if t.pending is None and t.label}
        hosts = {part for t in targets for part in (
            *(t.label.split("/") if t.pending is not None else t.label.split("/")[:-1]),
            *t.groups)}
        return cls(frozenset(hosts), frozenset(found), names)

    def surely(self, pattern: str, host: Target, adds: bool = True) -> bool:
        """Whether `pattern` selects every container of `host`: it names the host itself
        (`adds`: a word that adds, else one that excludes or intersects)."""
        def test(one: str) -> bool:
            read = matcher(one, self.names.hosts) if adds else matcher(
                one, groups_=self.names.groups)
            return read(host.label, host.groups)
        return test(pattern) or pattern.endswith("/*") and test(pattern[:-2])

    def could(self, pattern: str, host: Target, adds: bool = True) -> bool:
        """Whether `pattern` may select a container of `host` (never False when it can)."""
        if pattern.startswith("~") or self.surely(pattern, host, adds):
            return True
        for one in ranges_expanded(pattern):
            glob = _GLOB.search(one)
            if "/" not in one:  # a container's own name, unless it is a host's
                if glob or one not in self.hosts or one in self.found:
                    return True
            elif glob is None:  # HOST/NAME
                if one.rpartition("/")[0] == host.label:
                    return True
            elif _may_start(one[:glob.start()], f"{host.label}/"):
                return True
        return False

    def names_on(self, pattern: str, host: Target) -> bool:
        """Whether `pattern` names containers on `host` by the host's own label (`web-3/app-1`,
        `web-3/*`): no typo of the host's name, so an exclusion of it waits for the host
        (review34: with web-3 down, `!web-3/app-1` made the whole fleet a config error)."""
        return host.label in hosts_named(pattern)

    def keeps(self, words: Collection[str], host: Target) -> bool:
        """Whether the limit's `words` may keep a container of `host`."""
        adds = [w for w in words if w[0] not in "!&"]
        return ((not adds or any(self.could(w, host) for w in adds))
                and all(self.could(w[1:], host, False) for w in words if w[0] == "&")
                and not any(self.surely(w[1:], host, False) for w in words if w[0] == "!"))


def hosts_named(pattern: str) -> set[str]:
    """The hosts whose containers `pattern` names by the host's label (`web-3` of
    `web-3/app-1` or `web-3/*`; a glob there could be a typo)."""
    if pattern.startswith("~"):
        return set()
    return {one.rpartition("/")[0] for one in ranges_expanded(pattern) if "/" in one}


def _may_start(written: str, prefix: str) -> bool:
    """Whether a label starting `prefix` may match a glob whose text before its first glob
    character is `written`."""
    return prefix.startswith(written) or written.startswith(prefix)
