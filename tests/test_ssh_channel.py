"""The SSH-channel face of asyncio protocols: packets reach a buffered protocol whole and in
order, whatever the sizes of its buffers."""

from __future__ import annotations

import asyncio

import pytest

from orch_magics.layers.ssh_channel import ProtocolSession


class Collecting(asyncio.BufferedProtocol):
    """A buffered protocol whose buffers are `size` bytes; it records what it was given."""

    def __init__(self, size: int) -> None:
        self.buf = bytearray(size)
        self.got = bytearray()
        self.updates = 0
        self.eof = False

    def get_buffer(self, sizehint: int) -> bytearray:
        return self.buf

    def buffer_updated(self, nbytes: int) -> None:
        self.got += self.buf[:nbytes]
        self.updates += 1

    def eof_received(self) -> bool:
        self.eof = True
        return False


@pytest.mark.parametrize("size", [1, 7, 4096, 1 << 20])
async def test_packets_of_one_loop_turn_reach_the_protocol_in_order(size: int) -> None:
    pieces = [bytes([i]) * (i * 37 % 5000 + 1) for i in range(60)]
    protocol = Collecting(size)
    session = ProtocolSession(protocol)
    for piece in pieces[:30]:
        session.data_received(piece, None)
    await asyncio.sleep(0)  # one turn: the first thirty arrive together
    first = protocol.updates
    for piece in pieces[30:]:
        session.data_received(piece, None)
    session.eof_received()  # EOF delivers what is still pending first
    assert bytes(protocol.got) == b"".join(pieces) and protocol.eof
    if size == 1 << 20:
        assert first == 1 and protocol.updates == 2
