"""Podman hops: the docker layer's launcher, in podman's words when its API is unreachable."""

from __future__ import annotations

from ..errors import ConnectError
from .docker_engine import Engine
from .docker_launcher import DockerLauncher

#: The docker layer's words for the engine, and podman's.
WORDS = (("docker engine", "podman API"), ("dockerd", "the podman service"))
HINT = ("podman serves its API with `podman system service --time=0 unix:///PATH.sock` "
        "(or `systemctl enable --now podman.socket`)")


class PodmanLauncher(DockerLauncher):
    """A DockerLauncher on podman's Docker-compatible API socket."""

    tool = "podman"
    engine_name = "the podman API"

    async def engine(self, *, fresh: bool = False) -> Engine:
        try:
            return await super().engine(fresh=fresh)
        except ConnectError as exc:
            text = exc.reason
            for docker_word, podman_word in WORDS:
                text = text.replace(docker_word, podman_word)
            raise self.error(f"{text}; {HINT}", ConnectError) from None
