"""Plan-time expansion: an environment's layers → its targets, each a label and a plain chain.

Layers naming several targets fan out to every combination, first layer outermost: a list of
two bastions followed by a list of three hosts gives six targets (`bastion-eu/db-1`, …).
A docker or podman `label:` layer is resolved at run time (`resolve`), on the engine it is
reached by.
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from ..config.fanout import chosen
from ..config.model import LayerSpec, Member
from ..errors import ConfigError, LayerError, OrchError
from ..executor import LayeredExecutor
from ..guard import Scope
from ..layers.base import Launcher
from ..layers.names import check_target_name
from ..layers.registry import get_kind, plugin_code
from ..text import plural, printable
from .limit_names import Names
from .select import checked_words, read_limit, refuse_subscripts, said_limit, select
from .unknown import Unknown, hosts_named


@dataclass(frozen=True)
class Target:
    """One target of a fleet: its short stable label and the layers that reach it."""

    label: str
    layers: tuple[LayerSpec, ...]
    #: Inventory groups of its hosts (`--limit web` keeps the targets of group `web`).
    groups: frozenset[str] = frozenset()

    @property
    def pending(self) -> int | None:
        """The index of a layer still to be resolved at run time (a container label), if any."""
        for i, spec in enumerate(self.layers):
            if spec.fanout is not None and spec.fanout.selector is not None:
                return i
        return None


@runtime_checkable
class Selecting(Protocol):
    """A launcher that can say which running containers its selector matches."""

    async def matching(self) -> list[str]:
        """Names of the running containers this layer selects, sorted."""


@runtime_checkable
class Suggesting(Protocol):
    """A selecting launcher that can say what its selector may have meant, when it matched none."""

    async def near(self) -> str:
        """` (did you mean …?)` from what its engine holds, or empty."""


def expand(layers: Sequence[LayerSpec]) -> list[Target]:
    """Every combination of the fixed fan-out layers (runtime selectors stay pending)."""
    choices: list[list[tuple[Member | None, LayerSpec]]] = []
    for spec in layers:
        fan = spec.fanout
        if fan is None or fan.selector is not None:
            choices.append([(None, spec)])
        else:
            choices.append([(m, _member_spec(spec, m)) for m in fan.members])
    targets = []
    for combo in itertools.product(*choices):
        label = "/".join(m.label for m, _ in combo if m is not None)
        groups = frozenset(g for m, _ in combo if m is not None for g in m.groups)
        targets.append(Target(label, tuple(spec for _, spec in combo), groups))
    return targets


def _member_spec(spec: LayerSpec, member: Member) -> LayerSpec:
    """The layer of one member: its own config values and label, no fan-out."""
    config = dataclasses.replace(spec.config, **member.changes)
    return LayerSpec(spec.type, config, _label(spec.type, config), spec.location)


def _label(kind: str, config: object) -> str:
    """The label kind `kind` gives one target's config (a plugin's failure names it)."""
    with plugin_code(kind, "failed to label a target", ConfigError):
        return get_kind(kind).label(config)


async def resolve(target: Target, base: Launcher) -> list[Target]:
    """A target with a runtime selector → one target per running container it matches."""
    index = target.pending
    if index is None:
        return [target]
    spec = target.layers[index]
    launcher = _selecting(target, index, base)
    if not isinstance(launcher, Selecting):  # a plugin's selector kind without the method
        raise LayerError(f"layer kind {spec.type!r} selects targets at run time (`selector`), "
                         f"but its launcher has no `matching()`", layer=spec.type)
    found: list[Target] = []
    with plugin_code(spec.type, "failed to find its targets", LayerError):
        names = await launcher.matching()  # kinds15: a plugin's failure was "a bug in orch"
        names = list(names)
        if not all(isinstance(n, str) and n for n in names) or len(set(names)) < len(names):
            raise LayerError(f"layer kind {spec.type!r} found targets that are not names, or "
                             f"the same one twice: {names!r:.200}", layer=spec.type)
    for name in names:
        _check_found(spec.type, name)
        with plugin_code(spec.type, "failed to name a target it found", LayerError):
            config = chosen(spec.type, spec.config, name)
        one = LayerSpec(spec.type, config, _label(spec.type, config), spec.location)
        label = f"{target.label}/{name}" if target.label else name
        layers = (*target.layers[:index], one, *target.layers[index + 1:])
        found += await resolve(Target(label, layers, target.groups), base)
    return found


def _check_found(kind: str, name: str) -> None:
    """A name an engine says it holds is held to the rules of a written one. A real engine
    never reports a `/` or a control character; a compromised one did (safety25): `c/keys/lnk`
    became a nested label, its copy written through a link another target's copy had made,
    and a newline in a name forged a line of another target's."""
    try:
        check_target_name(name, ranges=False, key="container")
    except ValueError as exc:
        raise LayerError(f"layer kind {kind!r} found a target named '{printable(name)[:200]}'"
                         f", which no target may be named ({exc}): refused, with every target "
                         f"it found", layer=kind) from None


def _selecting(target: Target, index: int, base: Launcher) -> Launcher:
    """The launcher of `target`'s chain up to its selecting layer `index`: what finds the
    containers (`matching`) and says what a selector matching none may have meant (`near`)."""
    return LayeredExecutor(base, target.layers[:index + 1]).build()


def unresolved(target: Target) -> Target:
    """A target whose selector could not be resolved, as its row names it: a label fleet with no
    hop before it has no label yet, so it is named by its selector (`label app=web`)."""
    if target.label:
        return target
    spec = target.layers[target.pending or 0]
    written = spec.fanout.written if spec.fanout else spec.label
    return dataclasses.replace(target, label=written)


def describe_labels(labels: Sequence[str], shown: int = 8) -> str:
    """`3 targets: web-01, web-02, web-03` (the first and last of a long list)."""
    named = [*labels[:shown - 1], "…", labels[-1]] if len(labels) > shown else list(labels)
    return f"{plural(len(labels), 'target')}: {', '.join(named)}"


def describe(targets: Sequence[Target], shown: int = 8) -> str:
    """`12 targets: web-01, web-02, … web-12` (pending ones say what is resolved at run time)."""
    labels = [t.label for t in targets]
    pending = [t for t in targets if t.pending is not None]
    if len(labels) > shown:
        labels = [*labels[:shown - 1], "…", labels[-1]]
    count = plural(len(targets), "target")
    if pending:
        spec = pending[0].layers[pending[0].pending or 0]
        selector = spec.fanout.written if spec.fanout else "a label"
        every = f"every running container with {selector.removeprefix('label ')}"
        if not any(t.label for t in targets):  # a label fleet with no hop before it
            return f"{every} (found at run time)"
        count += f" × {every}"
    return f"{count}: {', '.join(labels)}"


def limited(targets: Sequence[Target], limit: str | None, names: Names | None = None
            ) -> list[Target]:
    """The targets `--limit` keeps (globs, labels and inventory groups), in order; `names`:
    how plain names read (default: as these targets' labels)."""
    keep = set(select([t.label for t in targets], limit, {t.label: t.groups for t in targets},
                      names=names))
    return [t for t in targets if t.label in keep]


def to_find(targets: Sequence[Target], limit: str | None) -> tuple[list[Target], list[Target]]:
    """The targets whose containers are to be found, and the hosts `limit` keeps none of
    (`!web-3`, `web-1/*`): never contacted (fleets20: an excluded host was logged in to, and
    held the fleet for its connect timeout). A limit that cannot be read is said later."""
    if limit is None:
        return list(targets), []
    try:
        words = checked_words(limit)
    except ConfigError:
        return list(targets), []
    unknown = Unknown.of(targets, names_of(targets))
    unseen = {t.label for t in targets
              if t.pending is not None and t.label and not unknown.keeps(words, t)}
    return [t for t in targets if t.label not in unseen], [t for t in targets if t.label in unseen]


def names_of(expanded: Sequence[Target]) -> Names:
    """How a fleet's limit reads plain names: by its hosts as expanded, before any is left
    out or its containers found (review34)."""
    return Names.of([t.label for t in expanded], {t.label: t.groups for t in expanded})


def limited_reached(targets: Sequence[Target], limit: str | None,
                    unseen: Sequence[Target] = (), *, lenient: bool = False,
                    names: Names | None = None) -> list[Target]:
    """`limited`, where some hosts' containers are not known. One whose lookup failed (still
    `pending`: its row says why) keeps its row while the limit may keep one of its containers
    (`*/app-01` dropped it: the run said ok for what it could not see); the `unseen` ones of
    `to_find` keep none. A word matching nothing found is no error when it may match what was
    not (fleets20: a glob while every host was down), except an exclusion while some host
    answered: `!web-O3` must not run on the web-03 it was to protect. `lenient` (a rerun,
    whose labels passed the limit once): keeping none is none, and no word is an error but
    an exclusion naming a host that answers now (review35: `!web-3/app-O1`, excused while
    web-3 was down, let its rerun run app-01)."""
    unreached = [t for t in targets if t.pending is not None]
    if limit is None or not (unreached or unseen or lenient):
        return limited(targets, limit, names)
    reached = [t for t in targets if t.pending is None]
    names = names or names_of([*targets, *unseen])
    unknown, words = Unknown.of([*targets, *unseen], names), checked_words(limit)
    kept_open = {t.label for t in unreached if unknown.keeps(words, t)}

    answering = {t.label.rpartition("/")[0] for t in reached}

    def excused(word: str) -> bool:
        bare = word.lstrip("!&")
        if lenient:
            return not word.startswith("!") or not hosts_named(bare) & answering
        adds = word[0] not in "!&"
        return any(unknown.surely(bare, t, adds) or unknown.names_on(bare, t)
                   for t in (*unreached, *unseen)) or (
            not word.startswith("!") or not reached) and any(
            unknown.could(bare, t, adds) for t in unreached)

    named = [*targets, *unseen]  # errors name the unreached rows and the hosts left out too
    keep = set(select([t.label for t in named], limit, {t.label: t.groups for t in named},
                      excused=excused, empty_ok=True, names=names))  # (review34: "targets: ", no hint)
    kept = [t for t in targets if t.label in (keep if t.pending is None else kept_open)]
    if not kept and not lenient:
        raise ConfigError(f"limit {said_limit(limit)} leaves no target")
    return kept


def the_one(targets: Sequence[Target], limit: str, unseen: Sequence[Target] = (),
            names: Names | None = None) -> Target:
    """The single target `limit` keeps (an error listing them when it keeps several);
    `unseen`, `names`: as `limited_reached` takes them (hosts not contacted)."""
    kept = limited_reached(targets, limit, unseen, names=names) if unseen else \
        limited(targets, limit)
    if len(kept) > 1:
        raise ConfigError(f"limit {said_limit(limit)} keeps {describe(kept)}; name one of them")
    return kept[0]


async def check_found(environment: str, targets: Sequence[Target], found: Sequence[Target],
                      base: Launcher, limit: str | None = None) -> None:
    """Refuse a fleet whose label selectors found no container anywhere: running 'on every
    container with app=web' when none is running is a mistake or an outage, not a success.
    The error says where the selector was written and, asked of the first target's engine,
    the label it may have meant (kinds17: a typo was told as an outage); with a `limit`, that
    the limit kept only those hosts (fleets24: 'no running container has the label' while
    other hosts ran two)."""
    if found or not targets:
        return
    hosts = [t.label for t in targets if t.label]
    kept = (f"the limit {said_limit(limit)} keeps {', '.join(hosts)}, where "
            if limit is not None and hosts else "")
    index = targets[0].pending or 0
    spec = targets[0].layers[index]
    selector = spec.fanout.written.removeprefix("label ") if spec.fanout else "its label"
    where = f" ({spec.location})" if spec.location else ""
    launcher = _selecting(targets[0], index, base)
    hint = ""
    if isinstance(launcher, Suggesting):
        with contextlib.suppress(Exception):  # only for the hint: the error stands on its own
            hint = await launcher.near()
    raise OrchError(f"environment {environment!r} has no target: {kept}no running container "
                    f"has the label {selector}{where}{hint}")


def planned_scope(layers: Sequence[LayerSpec], limit: str | None) -> Scope:
    """The targets `--limit` keeps, as the question says them (`planned`) and, when all are
    known before the run, as labels: what a confirmation of them covers (guard.Scope)."""
    targets = expand(layers)
    if any(t.pending is not None for t in targets):
        return Scope(planned(layers, limit))
    kept = limited(targets, read_limit(limit))
    return Scope(describe(kept), frozenset(t.label for t in kept))


def planned(layers: Sequence[LayerSpec], limit: str | None) -> str:
    """`describe` of the targets `--limit` keeps, for a dry run (all of them, with a note,
    while some are found only at run time: their labels are not known yet). `limit` as
    given: its `@FILE`s are read here."""
    targets, read = expand(layers), read_limit(limit)
    if read is not None and any(t.pending is not None for t in targets):
        words = checked_words(read)  # as written: what the run would refuse (fleets13)
        if targets[0].label:  # containers of several hosts (HOST/CONTAINER), not one's
            refuse_subscripts(words, {g for t in targets for g in t.groups}, targets[0].label)
        return f"{describe(targets)} (the limit {limit} applies once the containers are found)"
    return describe(limited(targets, read))
