"""Where a docker engine listens, parsed without the docker SDK (the config checks it)."""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from urllib.parse import urlsplit

from ..config.placeholders import has_placeholder
from ..errors import ConfigError
from ..process.command import check_path
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


def _port_hint(port: int | None, kind: str) -> str:
    """The port to add to a tcp:// address written without one: dockerd's 2375; podman has
    no default."""
    return "" if port else ":2375" if kind == "docker" else ":PORT"


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
    if url.startswith("unix://") and (path := url[len("unix://"):]).startswith("/"):
        return Address(url, path=path)  # as written: a socket path is no URL with a `#` or
    parts = urlsplit(url)  # a `?` (kinds18: `/tmp/k18#hash/podman.sock` was tried as /tmp/k18)
    try:
        port = parts.port
    except ValueError:
        port = 0
    if port == 0:
        raise ValueError(f"{kind} host {url!r} has a port out of range (1-65535)") from None
    if parts.netloc.endswith(":"):  # urlsplit reads `tcp://h:` as no port: `h::2375` was tried
        raise ValueError(f"{kind} host {url!r} has an empty port: write one after ':'")
    if parts.scheme == "unix" and (parts.netloc + parts.path):
        if parts.netloc or not parts.path.startswith("/"):  # it would be read from orch's cwd
            path = (parts.netloc + parts.path).lstrip("/")
            raise ValueError(f"{kind} host {url!r}: a socket's path is absolute "
                             f"(unix:///{path})")
        return Address(url, path=parts.path)
    if parts.scheme == "tcp" and parts.hostname:
        if port is None and kind != "docker":  # 2375 is dockerd's; podman has no default
            raise ValueError(f"{kind} host {url!r} needs a port: tcp://{parts.netloc}:PORT, "
                             f"where `{kind} system service tcp://…:PORT` listens")
        if port is None:  # said with the port it is, so an error names what was tried
            url, port = f"tcp://{parts.netloc}:2375", 2375
        return Address(url, host=parts.hostname, port=port)
    if parts.scheme in ("http", "https") and parts.hostname:  # docker-py's aliases, not the CLI's
        raise ValueError(f"unsupported {kind} host {url!r}: write "
                         f"tcp://{parts.netloc}{_port_hint(port, kind)} (plain TCP; TLS is not "
                         f"supported)")
    raise ValueError(f"unsupported {kind} host {url!r} (expected unix:///path/{kind}.sock or "
                     f"tcp://host:port; to reach a remote engine put an ssh layer before this one)")


@masked_repr  # a docker_host URL may carry a resolved secret
@dataclass(frozen=True)
class Socket:
    """Where an engine listens, and (for its errors) why that one: "" when the layer names it."""

    url: str
    origin: str = ""


#: The remote access each kind's tool has in its environment variable's ssh:// form.
SSH_FORM = {"docker": "the docker CLI's", "podman": "podman-remote's"}


def from_environment(var: str, value: str, kind: str) -> Socket:
    """An engine address from this machine's environment (DOCKER_HOST, CONTAINER_HOST),
    checked: an error names the variable, and for the ssh:// form what to write instead."""
    try:
        parse_address(value, kind)
    except ValueError as exc:
        parts = urlsplit(value)
        if parts.scheme != "ssh" or not parts.hostname:
            raise ConfigError(f"{var}: {exc}") from None
        ssh = ", ".join(f"{k}: {v}" for k, v in (("host", parts.hostname), ("user",
                        parts.username), ("port", parts.port)) if v)
        socket = (f", and give this one {kind}_host: 'unix://{parts.path}'" if parts.path
                  else f" (this one then uses {DEFAULT_HOST} there)" if kind == "docker"
                  else f", and give this one {kind}_host: 'unix:///PATH.sock'")
        raise ConfigError(f"{var}: {value!r} is {SSH_FORM[kind]} ssh:// form, which orch "
                          f"does not read: reach that host with a layer "
                          f"{{type: ssh, config: {{{ssh}}}}} before this one{socket}") from None
    return Socket(value, f"from {var}")


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
    except NotADirectoryError:  # kinds12: `…/podman.sock/` was "ok", then a bare errno 20
        return f"{path} is not a socket: what comes before its last '/' is no folder"
    except OSError:
        return None
    return None if stat.S_ISSOCK(mode) else f"{path} is not a socket"


def check_address(url: str) -> None:
    """Field check for the config: raises ValueError with a message for a bad address (a
    shell variable in it too: `unix:///run/user/$UID/…` is read as written, review27). One
    with a placeholder is judged once expanded (config18: `unix://{{env:D}}/docker.sock` was
    "a port out of range")."""
    if not has_placeholder(url):
        check_path(url)
        parse_address(url)


def check_podman_address(url: str) -> None:
    """`check_address` in podman's words."""
    if not has_placeholder(url):
        check_path(url)
        parse_address(url, "podman")


def docker_socket(given: str | None, depth: int) -> Socket:
    """The docker layer's engine: the config's, else at this machine (depth 0) DOCKER_HOST,
    which describes this machine's engine only, else the default socket."""
    if given:
        return Socket(given)
    env = os.environ.get("DOCKER_HOST") if depth == 0 else None
    return from_environment("DOCKER_HOST", env, "docker") if env else Socket(DEFAULT_HOST)


def missing_here(found: Socket, kind: str) -> str | None:
    """What a run would say of an engine socket on this machine that is not there or is no
    socket (seen without connecting), in `kind`'s words and naming the socket's origin."""
    address = parse_address(found.url, kind)
    problem = socket_problem(address.path) if address.path is not None else None
    if problem is None:
        return None
    said = f"cannot reach the docker engine at {address.url} on this machine: {problem}"
    origin = f" ({found.origin})" if found.origin else ""
    return f"{in_podman_words(said) if kind == 'podman' else said}{origin}"
