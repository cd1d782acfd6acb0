"""The `podman` layer kind: a container of podman, through its Docker-compatible API.

Podman serves the Docker Engine API (`podman system service`), so the runtime is the docker
layer's (`docker_launcher.py`); this kind only finds the socket as podman users expect:
`podman_host` (or `docker_host`) in the config, then, on this machine, `CONTAINER_HOST`,
`$XDG_RUNTIME_DIR/podman/podman.sock` (rootless) and `/run/podman/podman.sock` (rootful).
Behind an ssh hop: the login user's rootless socket there, if it has one, else the rootful one
(podman_launcher.py looks). Importing this imports no SDK.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from typing import ClassVar

from ..errors import ConnectError
from ..importing import importing_sdk
from ..redaction import masked_repr
from .base import Launcher
from .docker import DockerConfig, container_target, engine_needs
from .docker_address import (
    PODMAN_HINT,
    Socket,
    check_podman_address,
    from_environment,
    is_socket,
    missing_here,
)

ROOTFUL = "unix:///run/podman/podman.sock"
#: Where rootless podman's socket is, for messages (under $XDG_RUNTIME_DIR on this machine).
ROOTLESS = "$XDG_RUNTIME_DIR/podman/podman.sock"


@masked_repr  # resolved placeholders may be secrets
@dataclass(frozen=True)
class PodmanConfig(DockerConfig):
    """A running podman container to exec into, at the previous hop."""

    podman_host: str | None = field(
        default=None,
        metadata={"doc": "Podman API at the previous hop: unix:///path, or (from this machine "
                         "only) tcp://host:port (default: "
                         "CONTAINER_HOST, $XDG_RUNTIME_DIR/podman/podman.sock, then "
                         "/run/podman/podman.sock on this machine; behind ssh the login "
                         "user's rootless socket there, else the rootful one).",
                  "check": check_podman_address, "check_expanded": check_podman_address})
    docker_host: str | None = field(
        default=None,
        metadata={"doc": "The same as podman_host (give one of them).",
                  "check": check_podman_address, "check_expanded": check_podman_address})

    def check(self) -> None:
        """One target, and one socket setting (podman_host and docker_host are the same)."""
        super().check()
        if self.podman_host and self.docker_host:
            raise ValueError("give podman_host or docker_host, not both")


def socket_address(config: PodmanConfig, depth: int) -> Socket:
    """Where the podman API listens, seen from the previous hop at `depth` (0: this machine)."""
    given = config.podman_host or config.docker_host
    if given:
        return Socket(given)
    if depth > 0:  # unless the login user there has a rootless one (PodmanLauncher)
        return Socket(ROOTFUL, "the rootful default behind ssh: root uses it, and another "
                               "login user there had no rootless socket in "
                               "$XDG_RUNTIME_DIR/podman or /run/user/<their uid>/podman")
    env = os.environ.get("CONTAINER_HOST")
    if env:
        return from_environment("CONTAINER_HOST", env, "podman")
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    rootless = os.path.join(runtime, "podman", "podman.sock") if runtime else ROOTLESS
    if runtime and not os.path.isabs(runtime):  # ignored, as the XDG spec says (kinds21:
        found = f"XDG_RUNTIME_DIR ({runtime!r}) is ignored: not an absolute path"  # it became
    elif runtime and os.path.exists(rootless) and is_socket(rootless):  # unix://xdg/…)
        return Socket(f"unix://{rootless}", "the rootless one, in $XDG_RUNTIME_DIR")
    else:
        found = (f"{rootless} is not a socket" if os.path.lexists(rootless)
                 else f"there is no socket at {rootless}") + ", where a rootless podman serves it"
    unset = "unset" if env is None else "empty"  # kinds18: an empty one read "unset"
    return Socket(ROOTFUL, f"CONTAINER_HOST is {unset} and {found}")


class PodmanKind:
    """`podman`: a container on the previous hop's podman (exec semantics, like docker)."""

    name: ClassVar[str] = "podman"
    Config: ClassVar[type] = PodmanConfig
    carries: ClassVar[frozenset[str] | None] = frozenset()
    target: ClassVar[str] = "container"  # the short form `podman NAME` sets it
    fans_out: ClassVar[bool] = True  # container: [a, b], "app-[1:3]"
    selector: ClassVar[str] = "label"  # every running container with it, found at run time

    def needs(self, config: PodmanConfig) -> str | None:
        return engine_needs(config.podman_host or config.docker_host)

    def label(self, config: PodmanConfig) -> str:
        return f"podman {container_target(config)}"

    def preflight(self, config: PodmanConfig, label: str) -> None:
        """As the first hop with CONTAINER_HOST set (this machine's own word on where podman
        is): it is readable and names a socket that is there, in the words of a run that found
        otherwise. No socket at the defaults is not judged: a config may be checked on a
        machine that is not the one it runs on."""
        if config.podman_host or config.docker_host or not os.environ.get("CONTAINER_HOST"):
            return
        said = missing_here(socket_address(config, 0), "podman")
        if said is not None:  # as the run's engine check and PodmanLauncher say it
            raise ConnectError(f"{said}; {PODMAN_HINT}", hop=1, layer=label)

    def wrap(self, config: PodmanConfig, inner: Launcher, label: str) -> Launcher:
        with importing_sdk(f"{__package__}.podman_launcher"):  # the docker SDK, on first use
            from .podman_launcher import PodmanLauncher

        fields = {f.name: getattr(config, f.name) for f in dataclasses.fields(DockerConfig)}
        depth = inner.place.depth
        return PodmanLauncher(DockerConfig(**fields), inner, label, socket_address(config, depth),
                              rootless_there=depth > 0 and not (config.podman_host
                                                                or config.docker_host))


KIND = PodmanKind()
