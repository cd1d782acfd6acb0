"""Whether a plan handed in (`plan=`, `begin`) is its environment's and service's as the
config writes them: where only services as written run (allow_adhoc false, or unset beside
allow_services), its commands and layers; elsewhere, its layers (a plan runs where its
environment says, and the trail says so).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping, Sequence

from .config.model import Config, LayerSpec
from .errors import ConfigError, OrchError
from .guard import adhoc_allowed, adhoc_refused_by
from .plan import RunPlan, make_plan, resolve_layers
from .process.command import Command
from .process.environ import PLACEHOLDER
from .secrets.placeholders import DryRunResolver


def check_written(plan: RunPlan, config: Config) -> None:
    """A plan's layers must be its environment's as the config writes them now (or one
    fan-out member's), and where only services as written run (allow_adhoc: false) its
    commands (programs, arguments, directories, variables) the service's too. safety15
    replaced the command of an allowed service's plan, ran it there, and the audit trail
    named the service; review28: its variables, or a plan handed to `begin` with a ticket of
    the plan as written; safety17: another environment's layers."""
    env = config.environments.get(plan.environment.name)
    if env is None:
        return
    if plan.service is None or adhoc_allowed(env):  # safety17: a plan for `dev` with
        try:  # `prod`'s layers ran on prod, unasked, and the trail said dev
            written = resolve_layers(env, DryRunResolver())
        except ConfigError:
            return  # the run's own plan says it
        if not _layers_of(plan.layers_to_run, written):
            raise OrchError(f"this plan's layers ({plan.hops}) are not environment "
                            f"{env.name!r}'s: a plan runs where its environment's config says")
        return
    if not _as_written(plan, config):
        raise OrchError(f"environment {env.name!r} runs its services as written "
                        f"({adhoc_refused_by(env)}): this plan's commands are not those of "
                        f"service {plan.service.name!r} (or its layers not the environment's)")


def _as_written(plan: RunPlan, config: Config) -> bool:
    assert plan.service is not None
    try:
        written = make_plan(config, plan.environment.name, plan.service.name,
                            env=dict.fromkeys(plan.given_env, ""), cwd=plan.given_cwd,
                            dry_run=True)
    except ConfigError:
        return False

    def commands(p: RunPlan) -> list[Command]:
        return [p.command, *(s.command for s in (*p.pre, *p.post))]
    mine, theirs = commands(plan), commands(written)
    return len(mine) == len(theirs) and all(  # a secret's value aside: it is read, not written
        (m.argv, m.cwd, set(m.env)) == (t.argv, t.cwd, set(t.env))
        and all(_same(m.env[k], v) for k, v in t.env.items())
        for m, t in zip(mine, theirs, strict=True)) and _layers_of(
        plan.layers_to_run, written.layers_to_run)  # review29: its layers too (a `local`
    # layer's variables, another host)


def _layers_of(mine: Sequence[LayerSpec], written: Sequence[LayerSpec]) -> bool:
    """Whether `mine` are the layers `written`, or those of one target of their fan-out."""
    return len(mine) == len(written) and all(
        _member(m, w) for m, w in zip(mine, written, strict=True))


def _member(mine: LayerSpec, written: LayerSpec) -> bool:
    """Whether `mine` is the layer `written`, or one member's of its fixed fan-out
    (safety17: a fleet's plan could carry any layers: another container, user, folder or
    variables). A container a label selects is known only once found: a plan handed in
    naming one is refused (review32: any name passed); the fleet's own are vouched for."""
    if _same(mine, written):
        return True
    fan = written.fanout
    if fan is None or fan.selector is not None or mine.type != written.type or \
            mine.fanout is not None:
        return False
    return any(_same(mine.config, dataclasses.replace(written.config, **member.changes))
               for member in fan.members)


def _same(mine: object, written: object) -> bool:
    """Whether `mine` is `written` with its placeholders read: the text around each must be
    as written (safety17: one holding a secret matched any text, another URL included)."""
    if isinstance(written, str) and PLACEHOLDER.search(written):
        pattern = ".*".join(map(re.escape, PLACEHOLDER.split(written)[::3]))
        return isinstance(mine, str) and re.fullmatch(pattern, mine, re.DOTALL) is not None
    if dataclasses.is_dataclass(written) and not isinstance(written, type):
        return type(mine) is type(written) and all(
            _same(getattr(mine, f.name), getattr(written, f.name))
            for f in dataclasses.fields(written) if f.compare)
    if isinstance(written, Mapping):
        return isinstance(mine, Mapping) and set(mine) == set(written) and all(
            _same(mine[k], v) for k, v in written.items())
    if isinstance(written, (tuple, list)):
        return isinstance(mine, (tuple, list)) and len(mine) == len(written) and all(
            _same(m, w) for m, w in zip(mine, written, strict=True))
    return mine == written
