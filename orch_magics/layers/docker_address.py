"""Where a docker engine listens, parsed without the docker SDK (the config checks it)."""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from urllib.parse import urlsplit

from ..redaction import masked_repr

DEFAULT_HOST = "unix:///var/run/docker.sock"
#: What an engine's socket that is not there is said to be (podman's words: `in_podman_words`).
NO_SOCKET = "no such socket (is dockerd running there?)"
#: The docker layer's words for the engine, and podman's.
PODMAN_WORDS = (("docker engine", "podman API"), ("dockerd", "the podman service"))
#: How to start podman's API (it serves the same one), for the errors of a missing socket.
PODMAN_HINT = ("podman serves its API with `podman system service --time=0 unix:///PATH.sock` "
               "(or `systemctl enable --now podman.socket`; rootless: `systemctl --user enable "
               "--now podman.socket`)")


@masked_repr  # a docker_host URL may carry a resolved secret
@dataclass(frozen=True)
class Address:
    """Where the engine listens, at the previous hop: a unix socket path or a TCP host:port."""

    url: str
    path: str | None = None
    host: str | None = None
    port: int | None = None


def parse_address(url: str, kind: str = "docker") -> Address:
    """`unix:///run/docker.sock`, `/run/docker.sock` or `tcp://host:2375` (plain TCP, no TLS);
    errors in the words of `kind` (docker, or podman, which serves the same API)."""
    if url.startswith("/"):
        return Address(f"unix://{url}", path=url)
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        raise ValueError(f"{kind} host {url!r} has a port out of range (1-65535)") from None
    if parts.scheme == "unix" and (parts.netloc + parts.path):
        if parts.netloc or not parts.path.startswith("/"):  # it would be read from orch's cwd
            path = (parts.netloc + parts.path).lstrip("/")
            raise ValueError(f"{kind} host {url!r}: a socket's path is absolute "
                             f"(unix:///{path})")
        return Address(url, path=parts.path)
    if parts.scheme in ("tcp", "http") and parts.hostname:
        return Address(url, host=parts.hostname, port=port or 2375)
    raise ValueError(f"unsupported {kind} host {url!r} (expected unix:///path/{kind}.sock or "
                     f"tcp://host:port; to reach a remote engine put an ssh layer before this one)")


def is_socket(path: str) -> bool:
    """Whether `path` is a socket on this machine (True when it cannot be looked at: then the
    connect's own error says why)."""
    try:
        return stat.S_ISSOCK(os.stat(path).st_mode)
    except OSError:
        return True


def in_podman_words(text: str) -> str:
    """A docker layer's message about its engine, as the podman layer says it."""
    for docker_word, podman_word in PODMAN_WORDS:
        text = text.replace(docker_word, podman_word)
    return text


def socket_problem(path: str) -> str | None:
    """Why the unix socket at `path` on this machine cannot be an engine's, seen without
    connecting (the words of the engine client's errors), or None: it is there, or cannot be
    looked at (then only connecting can tell)."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return NO_SOCKET
    except OSError:
        return None
    return None if stat.S_ISSOCK(mode) else f"{path} is not a socket"


def check_address(url: str) -> None:
    """Field check for the config: raises ValueError with a message for a bad address."""
    parse_address(url)


def check_podman_address(url: str) -> None:
    """`check_address` in podman's words."""
    parse_address(url, "podman")


def default_address(depth: int) -> str:
    """DOCKER_HOST describes this machine's engine: it applies only when the engine is local."""
    if depth == 0:
        return os.environ.get("DOCKER_HOST") or DEFAULT_HOST
    return DEFAULT_HOST
