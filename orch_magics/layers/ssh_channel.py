"""An asyncio protocol spoken over an SSH channel, with no local socket in between.

A stream to a unix socket behind an ssh hop (the docker engine's hijacked exec stream) could go
through a forwarded local socket, but then every SSH packet costs a write into that socket and a
read out of it. Here the channel itself is the protocol's transport: one copy and no system call
per packet on this side.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import asyncssh


class ChannelTransport(asyncio.Transport):
    """The asyncio `Transport` face of one SSH channel.

    `abort()` ends the connection at once on this side, as a socket's abort does: the channel's
    own close waits for the far sshd, which first drains what it still holds for the socket
    (input nobody reads any more once the peer has ended: minutes, or never).
    """

    def __init__(self, chan: asyncssh.SSHUNIXChannel[bytes], aborted: Callable[[], None]) -> None:
        super().__init__()
        self._chan = chan
        self._aborted = aborted

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self._chan.write(bytes(data))

    def write_eof(self) -> None:
        self._chan.write_eof()

    def can_write_eof(self) -> bool:
        return True

    def is_closing(self) -> bool:
        return self._chan.is_closing()

    def close(self) -> None:
        self._chan.close()

    def abort(self) -> None:
        self._chan.abort()
        self._aborted()

    def pause_reading(self) -> None:
        self._chan.pause_reading()

    def resume_reading(self) -> None:
        self._chan.resume_reading()

    def get_write_buffer_size(self) -> int:
        return self._chan.get_write_buffer_size()

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        self._chan.set_write_buffer_limits(high, low)

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        if name == "socket":  # the SSH connection's: not this stream's to read from
            return default
        return self._chan.get_extra_info(name, default)


class ProtocolSession(asyncssh.SSHUNIXSession[bytes]):
    """Feeds an asyncio protocol (plain or buffered) from an SSH channel.

    The packets that arrive in one turn of the event loop (one read of the connection carries
    several) reach the protocol together, as one socket read would have brought them.
    """

    def __init__(self, protocol: asyncio.BaseProtocol) -> None:
        self._protocol = protocol
        self._pending: list[bytes] = []
        self._lost = False

    def connection_made(self, chan: asyncssh.SSHUNIXChannel[bytes]) -> None:
        self._protocol.connection_made(ChannelTransport(chan, self._abort))

    def _abort(self) -> None:
        """The protocol aborted: what is pending is dropped and it loses the connection now."""
        if not self._lost:
            self._lost = True
            self._pending = []
            asyncio.get_running_loop().call_soon(self._protocol.connection_lost, None)

    def data_received(self, data: bytes, datatype: asyncssh.DataType) -> None:
        if self._lost:
            return
        if not self._pending:
            asyncio.get_running_loop().call_soon(self._flush)
        self._pending.append(data)

    def _flush(self) -> None:
        pending, self._pending = self._pending, []
        protocol = self._protocol
        if isinstance(protocol, asyncio.BufferedProtocol):
            _feed_buffered(protocol, pending)
        elif pending and isinstance(protocol, asyncio.Protocol):
            protocol.data_received(b"".join(pending))

    def eof_received(self) -> bool:
        if self._lost:
            return False
        self._flush()
        if isinstance(protocol := self._protocol, (asyncio.Protocol, asyncio.BufferedProtocol)):
            return bool(protocol.eof_received())
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        if not self._lost:
            self._flush()
            self._lost = True
            self._protocol.connection_lost(exc)

    def pause_writing(self) -> None:
        if not self._lost:
            self._protocol.pause_writing()

    def resume_writing(self) -> None:
        if not self._lost:
            self._protocol.resume_writing()


def _feed_buffered(protocol: asyncio.BufferedProtocol, pieces: list[bytes]) -> None:
    """Copy `pieces` into the protocol's buffers, announcing each buffer once it is filled."""
    left = sum(len(p) for p in pieces)
    views = [memoryview(p) for p in pieces]
    while left:
        buf = memoryview(protocol.get_buffer(left))
        filled = 0
        while views and filled < len(buf):
            view = views[0]
            n = min(len(buf) - filled, len(view))
            buf[filled:filled + n] = view[:n]
            filled += n
            if n == len(view):
                views.pop(0)
            else:
                views[0] = view[n:]
        protocol.buffer_updated(filled)
        left -= filled
