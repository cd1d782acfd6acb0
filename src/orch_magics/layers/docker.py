"""Docker exec hops over the Engine API (placeholder until the Docker layer lands)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import ClassVar

from ..errors import LayerError
from .base import Launcher


@dataclass(frozen=True)
class DockerConfig:
    """A running container to exec into, on the engine of the previous hop."""

    container: str | None = field(default=None, metadata={"doc": "Container name or id."})
    label: str | None = field(default=None, metadata={"doc": "Pick the container by label."})
    service: str | None = field(default=None, metadata={"doc": "Compose service name."})
    project: str | None = field(default=None, metadata={"doc": "Compose project name."})
    user: str | None = field(default=None, metadata={"doc": "User inside the container."})
    workdir: str | None = field(default=None, metadata={"doc": "Working directory inside."})
    environment: Mapping[str, str] = field(
        default_factory=lambda: MappingProxyType({}), metadata={"doc": "Variables for every exec."})
    tty: bool = field(default=False, metadata={"doc": "Allocate a TTY for every exec."})
    docker_host: str | None = field(
        default=None, metadata={"doc": "Engine address (default: DOCKER_HOST or the socket)."})


class DockerKind:
    name: ClassVar[str] = "docker"
    Config: ClassVar[type] = DockerConfig

    def label(self, config: DockerConfig) -> str:
        target = config.container or config.service or config.label or "?"
        return f"docker {target}"

    def wrap(self, config: DockerConfig, inner: Launcher, label: str) -> Launcher:
        raise LayerError("the docker layer is not available yet", layer=label)


KIND = DockerKind()
