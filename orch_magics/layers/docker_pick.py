"""Which container a docker or podman layer's selector names, from the engine's list: the
one running container with a label, or a compose service's first running replica within one
compose project (`docker compose exec` picks within its project: one named `web` in two
stacks on a host, staging and prod, was run in whichever name sorted first)."""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ..config.suggest import did_you_mean
from .docker_engine import Engine

if TYPE_CHECKING:  # the kind module imports the launcher, which imports this one
    from .docker import DockerConfig

#: Container states a label selects: running, and paused (still running, as `docker ps` shows;
#: an exec in it is refused with a clear error). Created, exited, dead ones are not running.
LIVE = frozenset({"running", "paused"})
PROJECT = "com.docker.compose.project"
COMPOSE_SERVICE = "com.docker.compose.service"


class Unpicked(Exception):
    """No single container fits: the message says why."""


def pick(found: Sequence[Mapping[str, Any]], what: str, where: str, *, compose: bool,
         project: str | None) -> Mapping[str, Any]:
    """The container `found` (every state, on the engine on `where`) names, or Unpicked.
    `compose`: selected by a compose service, whose replicas are numbered; `project`: the
    compose project given."""
    live = [c for c in found if c.get("State") in LIVE]
    if not live:
        if found:
            raise Unpicked(f"no running container with {what}: {name_of(found[0])!r} is "
                           f"{found[0].get('State')}")
        raise Unpicked(f"no container with {what} on the engine on {where}")
    if compose:
        projects = sorted({str(labels(c).get(PROJECT) or "(none)") for c in live})
        if project is None and len(projects) > 1:
            raise Unpicked(f"{what} runs in {len(projects)} compose projects on the engine "
                           f"on {where} ({', '.join(projects)}): add `project:` to pick one")
        live.sort(key=lambda c: (c.get("State") != "running", _number(c), name_of(c)))
    elif len(live) > 1:
        matching = ", ".join(sorted(name_of(c) for c in live))
        raise Unpicked(f"{what} matches {len(live)} running containers ({matching}); pick "
                       f"one with `container:`")
    if live[0].get("State") == "paused":
        raise Unpicked(f"container {name_of(live[0])!r} is paused")
    return live[0]


def compose_hint(every: Sequence[Mapping[str, Any]], service: str, project: str | None) -> str:
    """` (did you mean …?)` for a compose service or project not found, from the engine's
    compose containers `every`; empty when nothing is near."""
    services = sorted({str(labels(c).get(COMPOSE_SERVICE)) for c in every})
    near = did_you_mean(service, services) if service not in services else None
    if near is not None:
        return f" (did you mean service {near!r}?)"
    projects = sorted({str(labels(c).get(PROJECT)) for c in every
                       if labels(c).get(COMPOSE_SERVICE) == service and labels(c).get(PROJECT)})
    near = did_you_mean(project, projects) if project else None
    if near is not None:
        return f" (did you mean project {near!r}?)"
    return f"; service {service!r} runs in projects {', '.join(projects)}" if projects else ""


async def selector_hint(engine: Engine, config: DockerConfig) -> str:
    """` (did you mean …?)` for a label or compose service that selects no container on
    `engine`, from what is there: a typo is told from an outage. Empty when nothing is near
    or the engine cannot be asked (the error it goes with stands on its own)."""
    with contextlib.suppress(Exception):
        if config.service:
            every = await engine.call(engine.api.containers, all=True,
                                      filters={"label": COMPOSE_SERVICE})
            return compose_hint(every, config.service, config.project)
        if config.label:
            return label_hint(await engine.call(engine.api.containers), config.label)
    return ""


def label_hint(running: Sequence[Mapping[str, Any]], selector: str) -> str:
    """` (did you mean label 'app=web'?)` for a `key=value` (or bare `key`) selector matching
    none of the `running` containers, from their labels; empty when nothing is near."""
    pairs = {f"{k}={v}" if "=" in selector else k
             for c in running for k, v in labels(c).items()}
    near = did_you_mean(selector, sorted(pairs))
    return f" (did you mean label {near!r}?)" if near is not None else ""


def _number(container: Mapping[str, Any]) -> int:
    """A compose replica's number (1 for `web-1`); 0 where its label is absent or not a number."""
    number = str(labels(container).get("com.docker.compose.container-number", ""))
    return int(number) if number.isdigit() else 0


def labels(container: Mapping[str, Any]) -> Mapping[str, str]:
    """A listed container's labels (none: empty)."""
    return container.get("Labels") or {}


def name_of(container: Mapping[str, Any]) -> str:
    """A listed container's name (without the engine's leading `/`), else its short id."""
    names = container.get("Names") or [container.get("Id", "?")[:12]]
    return str(names[0]).lstrip("/")
