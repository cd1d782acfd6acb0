"""The `podman` layer kind: a container of podman, through its Docker-compatible API.

Podman serves the Docker Engine API (`podman system service`), so the runtime is the docker
layer's (`docker_launcher.py`); this kind only finds the socket as podman users expect:
`podman_host` (or `docker_host`) in the config, then, on this machine, `CONTAINER_HOST`,
`$XDG_RUNTIME_DIR/podman/podman.sock` (rootless) and `/run/podman/podman.sock` (rootful).
Behind an ssh hop the default is the rootful socket there. Importing this imports no SDK.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from typing import ClassVar

from ..errors import ConfigError
from ..importing import importing_sdk
from ..redaction import masked_repr
from .base import Launcher
from .docker import DockerConfig, container_target, engine_needs
from .docker_address import check_podman_address, parse_address

ROOTFUL = "unix:///run/podman/podman.sock"


@masked_repr  # resolved placeholders may be secrets
@dataclass(frozen=True)
class PodmanConfig(DockerConfig):
    """A running podman container to exec into, at the previous hop."""

    podman_host: str | None = field(
        default=None,
        metadata={"doc": "Podman API socket at the previous hop: unix:///path (default: "
                         "CONTAINER_HOST, $XDG_RUNTIME_DIR/podman/podman.sock, then "
                         "/run/podman/podman.sock on this machine; the latter behind ssh).",
                  "check": check_podman_address})

    def check(self) -> None:
        """One target, and one socket setting (podman_host and docker_host are the same)."""
        super().check()
        if self.podman_host and self.docker_host:
            raise ValueError("give podman_host or docker_host, not both")


def socket_address(config: PodmanConfig, depth: int) -> str:
    """Where the podman API listens, seen from the previous hop at `depth` (0: this machine)."""
    given = config.podman_host or config.docker_host
    if given:
        return given
    if depth > 0:
        return ROOTFUL
    env = os.environ.get("CONTAINER_HOST")
    if env:
        try:
            parse_address(env, "podman")
        except ValueError as exc:  # `ssh://…` for podman-remote, say: name where it came from
            raise ConfigError(f"CONTAINER_HOST: {exc}") from None
        return env
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime:
        rootless = os.path.join(runtime, "podman", "podman.sock")
        if os.path.exists(rootless):
            return f"unix://{rootless}"
    return ROOTFUL


class PodmanKind:
    """`podman`: a container on the previous hop's podman (exec semantics, like docker)."""

    name: ClassVar[str] = "podman"
    Config: ClassVar[type] = PodmanConfig
    carries: ClassVar[frozenset[str] | None] = frozenset()

    def needs(self, config: PodmanConfig) -> str | None:
        return engine_needs(config.podman_host or config.docker_host)

    def label(self, config: PodmanConfig) -> str:
        return f"podman {container_target(config)}"

    def wrap(self, config: PodmanConfig, inner: Launcher, label: str) -> Launcher:
        with importing_sdk():  # the docker SDK, on first use
            from .podman_launcher import PodmanLauncher

        fields = {f.name: getattr(config, f.name) for f in dataclasses.fields(DockerConfig)}
        fields["docker_host"] = socket_address(config, inner.place.depth)
        return PodmanLauncher(DockerConfig(**fields), inner, label)


KIND = PodmanKind()
