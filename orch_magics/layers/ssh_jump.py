"""An ssh_config `ProxyJump`, opened by the ssh layer rather than by asyncssh.

asyncssh opens a ProxyJump host itself, reading the ssh_config for it on its own: an
`Include` under that host's block was never judged (review40: another user's 0666 file ran
its ProxyCommand as root), and the jump connection took none of orch's options (its
`SendEnv` honoured, the layer's known_hosts unread). Here each jump host's options are read
as the hop's own (`host_config`, judged alike) and it is connected with `connect_options`;
the last one is the hop's `tunnel=`, and closes with the connection it carries.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import asyncssh

from ..errors import ConnectError, LayerError
from .ssh_connect import ErrorFactory, KeyRecorder, connect_options, map_connect_errors
from .ssh_files import SSHFiles
from .ssh_hostconfig import HostConfig, read_host_config
from .ssh_proxy import ProxyCommand

if TYPE_CHECKING:
    from .ssh import SSHConfig

#: Jump hosts whose own ssh_config names a ProxyJump, nested at most this deep (OpenSSH's
#: `ssh -J` nests by running itself, with no limit; a loop must end somewhere).
MAX_NESTING = 8


def jump_spec(spec: str) -> tuple[str | None, str, int | None]:
    """`[user@]host[:port]` of a ProxyJump entry (`[v6]:port`, `ssh://` before it too, as
    OpenSSH reads it: safety23) → (user, host, port)."""
    user, _, place = spec.strip().removeprefix("ssh://").rpartition("@")
    host, port = place, None
    if place.startswith("[") and "]" in place:
        host, _, rest = place[1:].partition("]")
        port = int(rest[1:]) if rest.startswith(":") and rest[1:].isdigit() else None
    elif place.count(":") == 1 and place.rpartition(":")[2].isdigit():
        host, port = place.rsplit(":", 1)[0], int(place.rpartition(":")[2])
    return user or None, host, port


async def open_jumps(jumps: str, cfg: SSHConfig, err: ErrorFactory, files: SSHFiles,
                     hop: str, whose: str = "its", nesting: int = 0
                     ) -> asyncssh.SSHClientConnection:
    """Connect the ProxyJump hosts `jumps` (`a,b`: b through a) of the hop `cfg` and return
    the last, which carries the hop's connection; what fails closes what was opened. `whose`
    begins what a refusal is said of (`its ProxyJump a`)."""
    conn: asyncssh.SSHClientConnection | None = None
    for entry in jumps.split(","):
        user, host, port = jump_spec(entry)
        said, named = f"the ProxyJump {host} of {hop}", f"{whose} ProxyJump {entry.strip()}"
        jump = dataclasses.replace(cfg, host=host, user=user, port=port, identity_file=None,
                                   password=None, insecure_accept_host_key=False,
                                   known_hosts=None)  # the hop's own, as OpenSSH's -o: not the
        # jump host's (safety24: its changed key was taken; review43: its key looked up in the
        # target's file), which its ssh_config entry, else ~/.ssh/known_hosts, gives
        below, proxy, recorder = conn, None, KeyRecorder()
        try:
            options = await read_host_config(cfg.ssh_config, host, user, port, said,
                                             found=cfg.found)
            kw = connect_options(jump, err, files, options)
            kw["client_factory"] = lambda recorder=recorder: recorder
            if below is None and options.proxy_jump is not None:
                if nesting >= MAX_NESTING:
                    raise err(ConnectError, f"{said}: its ProxyJumps nest more than "
                                            f"{MAX_NESTING} deep (a loop?)")
                below = await open_jumps(options.proxy_jump, cfg, err, files, said,
                                         f"{named}'s", nesting + 1)
            if below is None and options.proxy_command:
                kw["tunnel"] = proxy = ProxyCommand(options.proxy_command)
            with _refusals_said(jump, _Said(err, named), recorder, options, first=below is None):
                conn = await connect_over(host, kw, below)
        except BaseException:
            if below is not None:  # (closed already by a failed connect: closing is idempotent)
                below.close()
            if proxy is not None:
                await asyncio.shield(proxy.end())
            raise
    assert conn is not None
    return conn


async def connect_over(host: str, kw: dict[str, Any],
                       below: asyncssh.SSHClientConnection | None
                       ) -> asyncssh.SSHClientConnection:
    """`asyncssh.connect(host, **kw)` through the connection `below` (None: as `kw` says),
    which then closes with it, as asyncssh's own jump does; a failure closes `below`."""
    if below is not None:
        kw["tunnel"] = below
    try:
        conn = await asyncssh.connect(host, **kw)
    except BaseException:
        if below is not None:
            below.close()
        raise
    if below is not None:
        conn.set_tunnel(below)
    return conn


class _Said:
    """An ErrorFactory whose messages begin with the jump host they are said of."""

    def __init__(self, err: ErrorFactory, named: str) -> None:
        self._err, self._named = err, named

    def __call__(self, cls: type[LayerError], message: str) -> LayerError:
        return self._err(cls, f"{self._named}: {message}")


@contextlib.contextmanager
def _refusals_said(jump: SSHConfig, err: _Said, recorder: KeyRecorder, options: HostConfig,
                   *, first: bool) -> Iterator[None]:
    """What a jump host's SSH server refused (the login, its host key) is said as that
    host's (review41: said as the target's, "it may be that host's"). Its network errors are
    left to the hop's own mapping, which names the ProxyJump with a did-you-mean."""
    try:
        yield
    except asyncssh.Error:
        with map_connect_errors(jump, err, recorder, depth=1 if first else 2,
                                via="the ProxyJump before it", host=options, jump_host=True):
            raise
