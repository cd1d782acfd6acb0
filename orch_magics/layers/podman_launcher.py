"""Podman hops: the docker layer's launcher, in podman's words when its API is unreachable
(and saying how the socket was chosen when the layer does not name it).

Behind an ssh hop whose layer names no socket, podman's own rule for the login user there
applies: an ordinary user's rootless socket (`$XDG_RUNTIME_DIR/podman/podman.sock`, else
`/run/user/UID/podman/podman.sock`) when it has one, else the rootful one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import AuthError, ConnectError, LayerError
from .base import Launcher
from .docker_address import PODMAN_HINT, Socket, in_podman_words
from .docker_launcher import DockerLauncher
from .lookup import output_at

if TYPE_CHECKING:  # the kind module imports this one inside wrap()
    from .docker import DockerConfig

#: Prints the login user's rootless podman socket, if it has one (nothing as root).
FIND_ROOTLESS = ('u=$(id -u) && [ "$u" != 0 ] && '
                 's="${XDG_RUNTIME_DIR:-/run/user/$u}/podman/podman.sock" && [ -S "$s" ] && '
                 'printf "\\036orch-sock %s" "$s"; exit 0')
#: What comes before the path: a login shell's `~/.bashrc` may print lines before it (kinds16:
#: "Welcome to …" made the user's rootless socket read as none, and root's podman was used).
SOCK_MARK = "\x1eorch-sock "


class PodmanLauncher(DockerLauncher):
    """A DockerLauncher on podman's Docker-compatible API socket."""

    tool = "podman"
    engine_name = "the podman API"

    def __init__(self, config: DockerConfig, inner: Launcher, label: str, socket: Socket, *,
                 rootless_there: bool = False) -> None:
        """`rootless_there`: `socket` is the rootful default behind ssh, to be used only when
        the login user there has no rootless socket (looked up once per pooled engine)."""
        super().__init__(config, inner, label, socket)  # its url stays the pool's key
        self._rootless_there = rootless_there

    async def engine_address(self) -> str:
        if self._rootless_there:
            assert self.inner is not None
            found = await rootless_socket(self.inner)
            if found is not None:
                self.said_origin = " (the login user's rootless one there)"
                return f"unix://{found}"
        return await super().engine_address()

    def unreachable(self, exc: ConnectError | AuthError) -> LayerError:
        # how to start the service helps when it is not there, not when it is not ours
        hint = f"; {PODMAN_HINT}" if isinstance(exc, ConnectError) else ""
        return self.error(f"{in_podman_words(exc.reason)}{self.said_origin}{hint}", type(exc))


async def rootless_socket(inner: Launcher) -> str | None:
    """The path of the rootless podman socket of the user `inner` runs as, if it has one
    (None when it is root, has none, or the lookup fails: the rootful default stands)."""
    out = await output_at(inner, FIND_ROOTLESS)
    said = out.decode("utf-8", "replace") if out is not None else ""
    path = said.rpartition(SOCK_MARK)[2] if SOCK_MARK in said else ""
    return path if path.startswith("/") and "\n" not in path else None
