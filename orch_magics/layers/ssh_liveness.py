"""Pooled SSH connections that went silent, found before they are used again.

A host that vanishes without a reset (it crashed; a link or a VPN dropped) leaves its pooled
connection open but silent, and keepalives notice only after 30 s × 3: a run through it would
wait for a channel that never opens, and blame the hop behind it. So a pooled connection that
carried no session for `IDLE` seconds is asked for one keepalive reply (what OpenSSH's
ServerAliveInterval sends) before it is handed out again, and a docker layer behind the hop
asks before each run (its engine client would wait 60 s); without a reply within `ANSWER`
seconds it is set aside, and the run connects afresh, naming the hop that cannot be reached.
Bytes received meanwhile are as good an answer (asyncssh's own keepalive counts them so): on a
slow, busy link the reply queues behind the output in flight, and the link is not silent.
"""

from __future__ import annotations

import asyncio
import time
import weakref
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:  # the kind module imports this one inside wrap()
    import asyncssh

    from .ssh_pool import Slot

#: Seconds without a session after which a pooled connection is asked before it is reused.
IDLE = 1.0
#: Seconds a keepalive reply may take (at most the hop's connect_timeout).
ANSWER = 5.0

T = TypeVar("T")


def idle(slot: Slot) -> bool:
    """Whether `slot` carries no session and has not been handed out for `IDLE` seconds."""
    return slot.sessions == 0 and time.monotonic() - slot.used > IDLE


class _Heard:
    """When a connection last received bytes (time.monotonic)."""

    __slots__ = ("at",)

    def __init__(self) -> None:
        self.at = 0.0


_HEARD: weakref.WeakKeyDictionary[asyncssh.SSHClientConnection, _Heard] = (
    weakref.WeakKeyDictionary())


def listen(conn: asyncssh.SSHClientConnection) -> None:
    """Note when `conn` receives bytes from now on: its transport (or the channel of the hop
    carrying it) hands every batch to the connection's `data_received`, one clock read each."""
    heard = _HEARD.setdefault(conn, _Heard())
    receive, clock = conn.data_received, time.monotonic

    def data_received(data: bytes, datatype: int | None = None) -> None:
        heard.at = clock()
        receive(data, datatype)

    setattr(conn, "data_received", data_received)  # noqa: B010 (mypy: a method is not assignable)


async def answers(conn: asyncssh.SSHClientConnection, timeout: float) -> bool:
    """Whether `conn` replies to a keepalive request, or receives any bytes, within `timeout`
    seconds (any reply, success or failure, is one; a connection closed meanwhile is not)."""
    if conn.is_closed():
        return False
    asked = time.monotonic()
    request = conn._make_global_request  # private-ok: asyncssh's own keepalive call, no public one
    try:
        await asyncio.wait_for(request(b"keepalive@openssh.com"), timeout)
    except asyncio.TimeoutError:
        heard = _HEARD.get(conn)
        return heard is not None and heard.at >= asked and not conn.is_closed()
    await asyncio.sleep(0)  # a connection closing now answers at once: let its close land
    return not conn.is_closed()


async def while_heard(conn: asyncssh.SSHClientConnection, reply: asyncio.Future[T],
                      quiet: float, until: float) -> T:
    """`reply`'s result, waited for while `conn` keeps receiving bytes: on a slow, busy link a
    channel's answer queues behind the output in flight, and the link is not silent.
    asyncio.TimeoutError once nothing arrived for `quiet` s, or at `until` (time.monotonic).
    `reply` is left to finish, never cancelled: a channel whose opening is cancelled stays open
    for good when its answer comes (asyncssh keeps no owner for it), holding a session."""
    clock, heard = time.monotonic, _HEARD.get(conn)
    start = clock()
    while True:
        last = max(start, heard.at) if heard is not None else start
        done, _ = await asyncio.wait([reply], timeout=max(0.0, min(last + quiet, until) - clock()))
        if done:
            return reply.result()
        last = max(start, heard.at) if heard is not None else start
        if clock() >= until or conn.is_closed() or clock() - last >= quiet:
            raise asyncio.TimeoutError
