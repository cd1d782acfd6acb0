"""What a forward reaches, as a caller gives it: a TCP port and one host (checked before
anything opens; the CLI and the magic check them as they parse their options)."""

from __future__ import annotations

from ..errors import OrchError
from ..layers.names import check_target_name


class ForwardError(OrchError):
    """A forward could not be opened or found (one-line reason)."""


def check_port(port: int, what: str, *, zero: bool = False) -> None:
    """A ForwardError unless `port` is a TCP port (`zero`: or 0, any free one)."""
    lowest = 0 if zero else 1
    if isinstance(port, bool) or not isinstance(port, int) or not lowest <= port <= 65535:
        free = ", 0 for any free one" if zero else ""
        raise ForwardError(f"{what} must be a TCP port (1-65535{free}), got {port!r}")


def check_host(host: object) -> str:
    """The host a forward reaches, as given (`[::1]`: the address in it), checked as a
    config's target name is: `--host must be a host name or address, got 'a b': it has …`."""
    if not isinstance(host, str):
        raise ForwardError(f"--host must be a host name or address, got {host!r}")
    bare = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    name, colon, port = bare.rpartition(":")  # `db:5432`, `[::1]:5432`; not `::1`
    name = name[1:-1] if name.startswith("[") and name.endswith("]") else \
        "" if ":" in name else name
    if colon and port.isdecimal() and name:  # kinds22: it was told of an ssh layer's keys
        raise ForwardError(f"--host takes no port, got {host!r}: the port a forward reaches is "
                           f"its PORT (forward ENV {port} --host {name})")
    try:
        check_target_name(bare, ranges=False)  # a forward reaches one host
    except ValueError as exc:
        raise ForwardError(f"--host must be a host name or address, got {host!r}: {exc}") from None
    return bare


def address(host: str, port: int) -> str:
    """`host:port`, an IPv6 address in brackets (`[::1]:80`)."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
