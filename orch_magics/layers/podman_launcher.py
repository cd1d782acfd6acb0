"""Podman hops: the docker layer's launcher, in podman's words when its API is unreachable
(and saying how the socket was chosen when the layer does not name it)."""

from __future__ import annotations

from ..errors import AuthError, ConnectError, LayerError
from .docker_address import PODMAN_HINT, in_podman_words
from .docker_launcher import DockerLauncher


class PodmanLauncher(DockerLauncher):
    """A DockerLauncher on podman's Docker-compatible API socket."""

    tool = "podman"
    engine_name = "the podman API"

    def unreachable(self, exc: ConnectError | AuthError) -> LayerError:
        # how to start the service helps when it is not there, not when it is not ours
        hint = f"; {PODMAN_HINT}" if isinstance(exc, ConnectError) else ""
        return self.error(f"{in_podman_words(exc.reason)}{self.said_origin}{hint}", type(exc))
