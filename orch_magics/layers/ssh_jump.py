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
import dataclasses
from typing import TYPE_CHECKING, Any

import asyncssh

from ..errors import ConnectError
from .ssh_connect import ErrorFactory, connect_options
from .ssh_files import SSHFiles
from .ssh_hostconfig import host_config
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
                     hop: str, nesting: int = 0) -> asyncssh.SSHClientConnection:
    """Connect the ProxyJump hosts `jumps` (`a,b`: b through a) of the hop `cfg` and return
    the last, which carries the hop's connection; what fails closes what was opened."""
    conn: asyncssh.SSHClientConnection | None = None
    for entry in jumps.split(","):
        user, host, port = jump_spec(entry)
        said = f"the ProxyJump {host} of {hop}"
        jump = dataclasses.replace(cfg, host=host, user=user, port=port, identity_file=None,
                                   password=None)
        below, proxy = conn, None
        try:
            options = host_config(cfg.ssh_config, host, user, port, said, found=cfg.found)
            kw = connect_options(jump, err, files, options)
            if below is None and options.proxy_jump is not None:
                if nesting >= MAX_NESTING:
                    raise err(ConnectError, f"{said}: its ProxyJumps nest more than "
                                            f"{MAX_NESTING} deep (a loop?)")
                below = await open_jumps(options.proxy_jump, cfg, err, files, said,
                                         nesting + 1)
            if below is None and options.proxy_command:
                kw["tunnel"] = proxy = ProxyCommand(options.proxy_command)
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
