"""The `docker` layer kind: its Config and how it wraps. Importing this never imports docker.

A docker hop runs commands in a running container on the engine of the previous hop. The
runtime (engine client, container lookup, exec streams) is in `docker_launcher.py`,
`docker_engine.py`, `docker_exec.py` and `docker_stream.py`, imported by `wrap` only.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import ClassVar

from ..config.placeholders import has_placeholder
from ..errors import ConnectError
from ..frozen import FrozenMap
from ..importing import importing_sdk
from ..process.command import check_directory
from ..process.environ import variable_names
from ..redaction import masked_repr
from .base import Launcher
from .docker_address import check_address, docker_socket, missing_here
from .names import check_target_name, shown_user


def check_container_directory(path: str) -> None:
    """A container's working directory is absolute: the engine starts there, from nowhere else
    (a relative one failed at run time with the runtime's two-line error). One with a
    placeholder is judged once expanded (config18: "must be absolute (/{{env:WD}})")."""
    if has_placeholder(path):
        return
    check_directory(path)
    if path == "~" or path.startswith("~/"):  # kinds17: the hint read `(/~)`, a folder `~`
        raise ValueError(f"the working directory {path!r} in a container must be absolute: "
                         f"the engine starts the command there and expands no `~` (write the "
                         f"home's path, such as /home/USER{path[1:]})")
    if not path.startswith("/"):
        raise ValueError(f"the working directory {path!r} in a container must be absolute "
                         f"(/{path.removeprefix('./')})")


def _container_name(name: str) -> None:
    check_target_name(name, key="container")


def _label_selector(value: str) -> None:
    """A label no container can have is refused where it is written (fleets16: `=a` passed
    `orch check`, then every run found no container)."""
    key = value.partition("=")[0]
    if not key.strip():
        raise ValueError(f"a label is KEY or KEY=VALUE, and the key of {value!r} is empty")
    if key != key.strip():
        raise ValueError(f"the key of label {value!r} has blanks around it, which no "
                         f"container's label key has: write {key.strip()!r}")


@masked_repr  # resolved placeholders (env, docker_host) may be secrets
@dataclass(frozen=True)
class DockerConfig:
    """A running container to exec into, on the engine of the previous hop."""

    container: str | None = field(default=None, metadata={"doc": "Container name or id.",
                                                          "check": _container_name})
    label: str | None = field(
        default=None, metadata={"doc": "Every running container with this label (key or "
                                       "key=value): a run fans out to each (docs/fleets.md); "
                                       "a port forward needs exactly one.",
                                "check": _label_selector})
    service: str | None = field(default=None, metadata={"doc": "Compose service name."})
    project: str | None = field(
        default=None, metadata={"doc": "Compose project name (narrows `service`)."})
    user: str | None = field(
        default=None, metadata={"doc": "User inside the container (name, uid, or user:group).",
                                "check": shown_user})
    workdir: str | None = field(
        default=None, metadata={"doc": "Working directory inside, absolute (a service's "
                                       "working_dir wins).",
                                "check": check_container_directory,
                                "check_expanded": check_container_directory})
    environment: Mapping[str, str] = field(
        default_factory=FrozenMap,
        metadata={"doc": "Variables for every exec (a service's values win).",
                  "check": variable_names})
    tty: bool = field(default=False, metadata={"doc": "Allocate a TTY for every exec."})
    docker_host: str | None = field(
        default=None,
        metadata={"doc": "Engine address at the previous hop: unix:///path or tcp://host:port "
                         "(default: DOCKER_HOST on this machine, else /var/run/docker.sock).",
                  "check": check_address, "check_expanded": check_address})

    def check(self) -> None:
        """One target (the loader calls this): a container, a label or a compose service."""
        given = [k for k in ("container", "label", "service") if getattr(self, k)]
        if len(given) != 1:
            raise ValueError("give one of container, label, service"
                             + (f", not {' and '.join(given)}" if given else ""))
        if self.project and not self.service:
            raise ValueError("project narrows a compose service: give service too")

    def selector(self) -> tuple[list[str], str]:
        """The labels a label or compose-service layer selects containers by, and how to say
        them (`([], "")` for a named container)."""
        if self.service:
            labels = [f"com.docker.compose.service={self.service}"]
            what = f"compose service {self.service!r}"
            if self.project:
                labels.append(f"com.docker.compose.project={self.project}")
                what += f" of project {self.project!r}"
            return labels, what
        if self.label:
            return [self.label], f"label {self.label!r}"
        return [], ""


def engine_needs(address: str | None) -> str:
    """What a container layer needs from the place before it: its engine's unix socket, or
    (tcp://) to be on this machine."""
    return "here" if address is not None and address.startswith("tcp://") else "unix"


def container_target(config: DockerConfig) -> str:
    """What a container layer points at, for its label: a name, a compose service or a label."""
    return config.container or config.service or config.label or "?"


class DockerKind:
    """`docker`: a container on the previous hop's engine (exec semantics)."""

    name: ClassVar[str] = "docker"
    Config: ClassVar[type] = DockerConfig
    carries: ClassVar[frozenset[str] | None] = frozenset()
    target: ClassVar[str] = "container"  # the short form `docker NAME` sets it
    fans_out: ClassVar[bool] = True  # container: [a, b], "app-[1:3]"
    selector: ClassVar[str] = "label"  # every running container with it, found at run time

    def needs(self, config: DockerConfig) -> str | None:
        return engine_needs(config.docker_host)

    def label(self, config: DockerConfig) -> str:
        return f"docker {container_target(config)}"

    def preflight(self, config: DockerConfig, label: str) -> None:
        """As the first hop with DOCKER_HOST set and no docker_host (this machine's own word on
        where its engine is): it is readable and names a socket that is there, in the words of
        a run that found otherwise. The default socket is not judged: a config may be checked
        on a machine that is not the one it runs on."""
        if config.docker_host or not os.environ.get("DOCKER_HOST"):
            return
        said = missing_here(docker_socket(None, 0), "docker")
        if said is not None:
            raise ConnectError(said, hop=1, layer=label)

    def wrap(self, config: DockerConfig, inner: Launcher, label: str) -> Launcher:
        with importing_sdk(f"{__package__}.docker_launcher"):  # the docker SDK, on first use
            from .docker_launcher import DockerLauncher

        return DockerLauncher(config, inner, label,
                              docker_socket(config.docker_host, inner.place.depth))


KIND = DockerKind()
