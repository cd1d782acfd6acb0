"""Podman hops: the docker layer's launcher, in podman's words when its API is unreachable
(and saying how the socket was chosen when the layer does not name it)."""

from __future__ import annotations

from ..errors import AuthError, ConnectError
from .base import Launcher
from .docker import DockerConfig
from .docker_address import PODMAN_HINT, in_podman_words
from .docker_engine import Engine
from .docker_launcher import DockerLauncher


class PodmanLauncher(DockerLauncher):
    """A DockerLauncher on podman's Docker-compatible API socket."""

    tool = "podman"
    engine_name = "the podman API"

    def __init__(self, config: DockerConfig, inner: Launcher, label: str,
                 origin: str = "") -> None:
        super().__init__(config, inner, label)
        self.origin = origin  # how the socket was chosen (podman.socket_address)

    async def engine(self, *, fresh: bool = False) -> Engine:
        try:
            return await super().engine(fresh=fresh)
        except (ConnectError, AuthError) as exc:
            text = in_podman_words(exc.reason)
            origin = f" ({self.origin})" if self.origin else ""
            # how to start the service helps when it is not there, not when it is not ours
            hint = f"; {PODMAN_HINT}" if isinstance(exc, ConnectError) else ""
            raise self.error(f"{text}{origin}{hint}", type(exc)) from None
