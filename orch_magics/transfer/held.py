"""The connection a forward made to check its target, held for the first client: read into a
small buffer meanwhile, so that the target ending it (a server's idle timeout after its
greeting) is seen, and that client gets a new connection instead of a closed session. When
no new one can be made (a listener of one connection that said its piece and went, `echo hi
| nc -l`), the client gets what the held one said, then its end: nothing received is lost."""

from __future__ import annotations

import asyncio
import contextlib

from .relay import Reader, Writer

#: Bytes of the target's first words kept for the first client; past them the held connection
#: is not read (the target waits, as it would for a client that does not read).
HELD_BUFFER = 1 << 16


class Held:
    """One connection to the target that no client has yet (see the module docstring)."""

    def __init__(self, reader: Reader, writer: Writer) -> None:
        self.reader, self.writer = reader, writer
        self.said = bytearray()  # what the target sent meanwhile
        self.ended = False  # the target ended it (or it failed)
        self._reading = asyncio.ensure_future(self._read())

    async def _read(self) -> None:
        try:
            while len(self.said) < HELD_BUFFER:
                data = await self.reader.read(HELD_BUFFER - len(self.said))
                if not data:
                    self.ended = True
                    return
                self.said += data
        except Exception:  # noqa: BLE001 - a reset, a dropped channel: ended as well
            self.ended = True

    async def take(self) -> tuple[Reader, Writer] | None:
        """The connection with what the target said so far, or None when the target ended it
        or its way dropped: the client gets a new one (else `leftover`)."""
        self._reading.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._reading
        if self.ended or self.writer.is_closing():
            return None
        return Prefixed(bytes(self.said), self.reader), self.writer

    def leftover(self) -> tuple[Reader, Writer] | None:
        """What an ended connection said, then its end (None when it said nothing)."""
        return (Prefixed(bytes(self.said), self.reader), self.writer) if self.said else None

    def close(self) -> None:
        """No client came for it: end it (the relay closes)."""
        self._reading.cancel()
        self.writer.close()


class Prefixed:
    """A Reader giving `first` before what `reader` reads."""

    def __init__(self, first: bytes, reader: Reader) -> None:
        self.first, self.reader = first, reader

    async def read(self, n: int = -1) -> bytes:
        if self.first:
            n = len(self.first) if n < 0 else n
            data, self.first = self.first[:n], self.first[n:]
            return data
        return await self.reader.read(n)

    def at_eof(self) -> bool:
        return not self.first and self.reader.at_eof()
