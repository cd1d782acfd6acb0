"""The connection a forward made to check its target, held for a first client that comes at
once (a script's, the next cell's): read into a small buffer meanwhile, so that the target
ending it (a server's idle timeout after its greeting) is seen, and that client gets a new
connection instead of a closed session. When no new one can be made (a listener of one
connection that said its piece and went, `echo hi | nc -l`, or one that stopped sending and
still reads, `nc -l > file`), the client gets that one, what it said first: nothing received
is lost. Held no longer than HOLD_FOR, nor once it filled its buffer: a server that serves one
connection at a time is not kept from its other users, nor does a feed hand its first client
the records of when the forward opened (files14). At HOLD_FOR a new connection is tried: one
refused says a listener of one connection (`nc -l` closes its port once it has its client),
whose held connection is then kept for its client, however late it comes (review28)."""

from __future__ import annotations

import asyncio
import contextlib

from .relay import Connect, Reader, Writer

#: Bytes of the target's first words kept for the first client; past them the held connection
#: is not read (the target waits, as it would for a client that does not read).
HELD_BUFFER = 1 << 16
#: Seconds the held connection waits for the first client before a new one is tried (see
#: the module docstring: taken, the held one is closed; refused, it is kept).
HOLD_FOR = 3.0


class Held:
    """One connection to the target that no client has yet (see the module docstring)."""

    def __init__(self, reader: Reader, writer: Writer, again: Connect | None = None) -> None:
        """`again`: a new connection to the target, tried at HOLD_FOR (None: closed then)."""
        self.reader, self.writer = reader, writer
        self.said = bytearray()  # what the target sent meanwhile
        self.ended = False  # the target ended its side (or the connection failed)
        self.closed = False  # given up: no client came in time
        self._again = again
        self._reading = asyncio.ensure_future(self._read())
        self._trying: asyncio.Future[None] | None = None
        self._expiry = asyncio.get_running_loop().call_later(HOLD_FOR, self._expire)

    def _expire(self) -> None:
        if self._again is None:
            self.close()
        else:
            self._trying = asyncio.ensure_future(self._try_again(self._again))

    async def _try_again(self, again: Connect) -> None:
        """Close the held connection if the target takes another one; keep it if not."""
        try:
            _, writer = await again()
        except Exception:  # noqa: BLE001 - refused (or down): it is the only way in
            return
        writer.close()
        self.close()

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
        """The connection with what the target said so far, or None when it was given up, the
        target ended it, filled its buffer or its way dropped: the client gets a new one (else
        `leftover`)."""
        self._stop_waiting()
        with contextlib.suppress(asyncio.CancelledError):
            await self._reading
        if self.closed or self.ended or len(self.said) >= HELD_BUFFER or self.writer.is_closing():
            return None
        return Prefixed(bytes(self.said), self.reader), self.writer

    def leftover(self) -> tuple[Reader, Writer] | None:
        """What an ended connection said, then its end, or one whose target only stopped
        sending; None when it was closed, or the target said nothing and reads no more."""
        if self.closed or not self.said and self.writer.is_closing():
            return None
        return Prefixed(bytes(self.said), self.reader), self.writer

    def close(self) -> None:
        """No client came for it (in time): end it."""
        self.closed = True
        self._stop_waiting()
        self.writer.close()

    def _stop_waiting(self) -> None:
        self._expiry.cancel()
        self._reading.cancel()
        if self._trying is not None:
            self._trying.cancel()


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
