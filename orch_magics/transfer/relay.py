"""A forward with no SSH hop: a small TCP relay from 127.0.0.1 to a host this machine reaches."""

from __future__ import annotations

import asyncio
import contextlib

CHUNK = 1 << 16


async def _pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(CHUNK):
            writer.write(data)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()
    except (ConnectionError, OSError):
        pass


class DirectRelay:
    """Listens on one local port; each client is joined to a new connection to host:port."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.server: asyncio.Server | None = None

    @staticmethod
    async def connect(host: str, port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        return await asyncio.open_connection(host, port)

    @classmethod
    async def open(cls, listen_host: str, listen_port: int, host: str, port: int
                   ) -> DirectRelay:
        relay = cls(host, port)
        relay.server = await asyncio.start_server(relay.handle_client, listen_host, listen_port)
        return relay

    async def handle_client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            their_reader, their_writer = await asyncio.open_connection(self.host, self.port)
        except OSError:
            writer.close()
            return
        await asyncio.gather(_pump(reader, their_writer), _pump(their_reader, writer))
        for w in (writer, their_writer):
            with contextlib.suppress(Exception):
                w.close()

    def get_port(self) -> int:
        assert self.server is not None
        return int(self.server.sockets[0].getsockname()[1])

    def close(self) -> None:
        if self.server is not None:
            self.server.close()

    async def wait_closed(self) -> None:
        if self.server is not None:
            await self.server.wait_closed()
