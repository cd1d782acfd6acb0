"""Pooled SSH connections that went silent, found before they are used again.

A host that vanishes without a reset (it crashed; a link or a VPN dropped) leaves its pooled
connection open but silent, and keepalives notice only after 30 s × 3: a run through it would
wait for a channel that never opens, and blame the hop behind it. So a pooled connection that
carried no session for `IDLE` seconds is asked for one keepalive reply (what OpenSSH's
ServerAliveInterval sends) before it is handed out again, and a docker layer behind the hop
asks before each run (its engine client would wait 60 s); without a reply within `ANSWER`
seconds it is set aside, and the run connects afresh, naming the hop that cannot be reached.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the kind module imports this one inside wrap()
    import asyncssh

    from .ssh_pool import Slot

#: Seconds without a session after which a pooled connection is asked before it is reused.
IDLE = 1.0
#: Seconds a keepalive reply may take (at most the hop's connect_timeout).
ANSWER = 5.0


def idle(slot: Slot) -> bool:
    """Whether `slot` carries no session and has not been handed out for `IDLE` seconds."""
    return slot.sessions == 0 and time.monotonic() - slot.used > IDLE


async def answers(conn: asyncssh.SSHClientConnection, timeout: float) -> bool:
    """Whether `conn` replies to a keepalive request within `timeout` seconds (any reply,
    success or failure, is one; a connection closed meanwhile is not)."""
    if conn.is_closed():
        return False
    request = conn._make_global_request  # private-ok: asyncssh's own keepalive call, no public one
    try:
        await asyncio.wait_for(request(b"keepalive@openssh.com"), timeout)
    except asyncio.TimeoutError:
        return False
    await asyncio.sleep(0)  # a connection closing now answers at once: let its close land
    return not conn.is_closed()
