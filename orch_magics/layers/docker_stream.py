"""The hijacked exec stream of the Docker Engine API, read and written on the event loop.

`POST /exec/{id}/start` answers `101 UPGRADED` and then turns the HTTP connection into the
process's stdin (client → engine, raw bytes) and its output (engine → client). Without a TTY the
output is multiplexed in frames: one byte stream id (1 stdout, 2 stderr), three zero bytes, a
big-endian u32 payload length, the payload. With a TTY it is one raw stream.

The request is written by hand on an asyncio connection rather than through docker-py's
`exec_start(socket=True)`: that helper reads the response headers through a buffered file and
then hands out the bare socket, losing any output that arrived with the headers (docker-py#425).
Here the bytes after the headers simply stay in our buffer.

`ExecStream` is a BufferedProtocol: the loop reads straight into a 1 MiB buffer, consecutive
frames of one stream are joined into one chunk, and reading pauses when the consumer falls
more than `HIGH_WATER` bytes behind.
"""

from __future__ import annotations

import asyncio
import collections
import json
import os
import socket
from collections.abc import AsyncIterator

from ..errors import StreamError
from .exec_tail import ExecTail
from .remote import PidMarker

#: Bytes the loop reads per system call (at most).
BUFFER = 1 << 20
#: Output bytes queued for a slow consumer before reading from the engine pauses.
HIGH_WATER = 8 << 20
LOW_WATER = 2 << 20

_HEADERS, _FRAMES, _RAW, _ERROR_BODY = range(4)


class _Output:
    """Chunks of one output stream waiting for their reader."""

    def __init__(self) -> None:
        self.chunks: collections.deque[bytes] = collections.deque()
        self.done = False
        self.waiter: asyncio.Future[None] | None = None

    def wake(self) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(None)


class StartRefused(Exception):
    """The engine answered the start request with an HTTP error instead of a stream."""

    def __init__(self, status: int, message: str) -> None:
        self.status = status
        self.message = message
        super().__init__(f"{status}: {message}")


class ExecStream(asyncio.BufferedProtocol):
    """One exec's hijacked connection: request, response headers, then frames (or raw TTY bytes).

    `started` resolves once the wrapper shell reported its pid (or the stream ended before it
    did: then `pid` stays None and the output holds the engine's reason). `closed` resolves
    when the connection is gone; `error` is set when it broke in a way that loses data;
    `status` is the exit status the wrapper printed last with `nonce` (None if it printed none);
    `reported` resolves when it comes. Once that line has come the exec is over: input is no
    longer sent, and a connection the engine then resets (podman does, over input left unread)
    has lost nothing.
    """

    def __init__(self, request: bytes, *, tty: bool, describe: str, nonce: str) -> None:
        loop = asyncio.get_running_loop()
        self._request = request
        self._tty = tty
        self._describe = describe
        self._buf = bytearray(BUFFER)
        self._view = memoryview(self._buf)
        self._start = 0
        self._end = 0
        self._state = _HEADERS
        self._outputs = (_Output(), _Output())
        self._queued = 0
        self._paused = False
        self._transport: asyncio.Transport | None = None
        self._can_write = asyncio.Event()
        self._can_write.set()
        self._marker = PidMarker()
        self._tail = ExecTail(nonce)
        self._error_status = 0
        self._error_length: int | None = None
        self.pid: int | None = None
        self.error: StreamError | None = None
        self.refused: StartRefused | None = None
        self.started: asyncio.Future[None] = loop.create_future()
        self.closed: asyncio.Future[None] = loop.create_future()
        self.reported: asyncio.Future[None] = loop.create_future()

    # ---- asyncio protocol -------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        transport.write(self._request)

    def get_buffer(self, sizehint: int) -> memoryview:
        if len(self._buf) - self._end < 65536:
            pending = self._end - self._start
            if self._start:
                self._buf[:pending] = self._buf[self._start:self._end]
                self._start, self._end = 0, pending
            if len(self._buf) - self._end < 65536:  # a partial frame fills the buffer
                self._grow(len(self._buf) * 2)
        return self._view[self._end:]

    def _grow(self, size: int) -> None:
        new = bytearray(size)
        new[:self._end - self._start] = self._view[self._start:self._end]
        self._end -= self._start
        self._start = 0
        self._buf, self._view = new, memoryview(new)

    def buffer_updated(self, nbytes: int) -> None:
        self._end += nbytes
        try:
            self._consume()
        except StreamError as exc:
            self._fail(exc)

    def eof_received(self) -> bool:
        # The engine ended the stream: the exec is over and nothing more will be read. Input
        # still queued here (a put stopped half-way) is dropped, not flushed: through a
        # forwarded socket the peer may never take it, and the end would wait for it.
        if self._transport is not None:
            self._transport.abort()
        return False

    @property
    def status(self) -> int | None:
        return self._tail.status

    def connection_lost(self, exc: Exception | None) -> None:
        if isinstance(exc, OSError):
            self._read_what_is_left()
        self._finish_marker()
        if self.error is None and self.status is None:
            self.error = self._broken(exc)
        if self._state == _ERROR_BODY:
            self._refuse()
        for out in self._outputs:
            out.done = True
            out.wake()
        self._can_write.set()
        if not self.started.done():
            self.started.set_result(None)
        if not self.closed.done():
            self.closed.set_result(None)

    def _broken(self, exc: Exception | None) -> StreamError | None:
        """What was lost when the stream ended without the wrapper's status line (None: the
        engine ended it; what became of the command is the engine's to say)."""
        if self._tail.cut is not None:  # podman did, and said so: in our words, where it said it
            self._queue(0 if self._tty else 1, (
                f"orch: podman cut the exec stream of {self._describe} short ({self._tail.cut})"
                f", as it does when a command ends leaving input unread: the command's output "
                f"may be incomplete\n").encode())
            return None
        leftover = self._end - self._start
        if self._state == _FRAMES and leftover:
            return StreamError(f"the exec stream of {self._describe} ended inside a frame "
                               f"({leftover} bytes of an incomplete frame)")
        if exc is not None and not isinstance(exc, StreamError):
            return StreamError(f"the exec stream of {self._describe} broke: {exc}")
        return None

    def _read_what_is_left(self) -> None:
        """Read what the engine sent before the connection failed: a failed write ends an
        asyncio transport at once, with the command's last output and status still unread in
        the socket (sent before the engine reset the connection over input left unread)."""
        sock = self._transport.get_extra_info("socket") if self._transport else None
        if sock is None or sock.fileno() < 0:
            return
        while self.error is None:
            try:
                nbytes = os.readv(sock.fileno(), [self.get_buffer(-1)])
            except OSError:  # nothing more now, or the reset itself
                return
            if not nbytes:
                return
            self.buffer_updated(nbytes)

    def pause_writing(self) -> None:
        self._can_write.clear()

    def resume_writing(self) -> None:
        self._can_write.set()

    # ---- parsing ----------------------------------------------------------------------------

    def _consume(self) -> None:
        if self._state == _HEADERS:
            self._parse_headers()
        if self._state == _FRAMES:
            self._parse_frames()
        elif self._state == _RAW:
            if self._end > self._start:
                self._deliver(0, bytes(self._view[self._start:self._end]))
            self._start = self._end = 0
        elif self._state == _ERROR_BODY:
            if self._error_length is not None and self._end - self._start >= self._error_length:
                self._refuse()
                assert self._transport is not None
                self._transport.close()

    def _parse_headers(self) -> None:
        head_end = self._buf.find(b"\r\n\r\n", self._start, self._end)
        if head_end < 0:
            if self._end - self._start > 65536:
                raise StreamError(f"the engine's answer for {self._describe} is not HTTP")
            return
        head = bytes(self._view[self._start:head_end]).decode("latin-1")
        self._start = head_end + 4
        status_line, _, rest = head.partition("\r\n")
        parts = status_line.split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/") or not parts[1].isdigit():
            raise StreamError(f"the engine's answer for {self._describe} is not HTTP: "
                              f"{status_line[:80]!r}")
        status = int(parts[1])
        if status in (101, 200):
            self._state = _RAW if self._tty else _FRAMES
            if self._start == self._end:
                self._start = self._end = 0
            return
        self._state = _ERROR_BODY
        self._error_status = status
        for line in rest.split("\r\n"):
            name, _, value = line.partition(":")
            if name.strip().lower() == "content-length" and value.strip().isdigit():
                self._error_length = int(value.strip())

    def _parse_frames(self) -> None:
        view, buf = self._view, self._buf
        pos, end = self._start, self._end
        runs: list[tuple[int, list[memoryview]]] = []
        while end - pos >= 8:
            kind = buf[pos]
            if kind not in (0, 1, 2) or buf[pos + 1] or buf[pos + 2] or buf[pos + 3]:
                self._flush(runs)  # what arrived intact before the bad frame is kept
                raise StreamError(
                    f"bad frame header in the exec stream of {self._describe}: "
                    f"{bytes(view[pos:pos + 8]).hex(' ')}")
            size = int.from_bytes(view[pos + 4:pos + 8], "big")
            if end - pos - 8 < size:
                if size + 8 > len(buf):  # make room for one frame larger than the buffer
                    self._flush(runs)
                    self._start = pos
                    self._grow(size + 8 + BUFFER)
                    return
                break
            stream = 1 if kind == 2 else 0
            if size:
                payload = view[pos + 8:pos + 8 + size]
                if runs and runs[-1][0] == stream:
                    runs[-1][1].append(payload)
                else:
                    runs.append((stream, [payload]))
            pos += 8 + size
        self._flush(runs)
        if pos == end:
            self._start = self._end = 0
        else:
            self._start = pos

    def _flush(self, runs: list[tuple[int, list[memoryview]]]) -> None:
        for stream, parts in runs:
            self._deliver(stream, b"".join(parts))
        runs.clear()

    def _deliver(self, stream: int, data: bytes) -> None:
        if stream == (0 if self._tty else 1):  # the wrapper's stream: its pid, its status
            if not self._marker.done:
                data = self._marker.feed(data)
                if self._marker.done:
                    self.pid = self._marker.pid
                    if not self.started.done():
                        self.started.set_result(None)
            if self._marker.done:
                data = self._tail.feed(data)
                if self._tail.status is not None and not self.reported.done():
                    self.reported.set_result(None)
            if not data:
                return
        self._queue(stream, data)

    def _queue(self, stream: int, data: bytes) -> None:
        out = self._outputs[stream]
        out.chunks.append(data)
        out.wake()
        self._queued += len(data)
        if self._queued > HIGH_WATER and not self._paused and self._transport is not None:
            self._paused = True
            self._transport.pause_reading()

    def _finish_marker(self) -> None:
        if not self._marker.done:
            pending = self._marker.flush()
            if pending:
                self._deliver(0 if self._tty else 1, pending)
        held = self._tail.flush()
        if held:
            self._queue(0 if self._tty else 1, held)

    def _refuse(self) -> None:
        if self.refused is not None:
            return
        body = bytes(self._view[self._start:self._end])
        try:
            message = str(json.loads(body).get("message", ""))
        except (ValueError, AttributeError, RecursionError):
            message = body.decode("utf-8", "replace").strip()
        self.refused = StartRefused(self._error_status, message)

    def _fail(self, exc: StreamError) -> None:
        self.error = exc
        if self._transport is not None:
            self._transport.abort()

    # ---- the reader and writer side -------------------------------------------------------

    async def output(self, stream: int) -> AsyncIterator[bytes]:
        """Chunks of stdout (0) or stderr (1) until the stream ends (a broken stream just ends:
        `error` tells, and the exec's end reports it, with what became of the run)."""
        out = self._outputs[stream]
        while True:
            if out.chunks:
                chunk = out.chunks.popleft()
                self._queued -= len(chunk)
                if self._paused and self._queued < LOW_WATER and self._transport is not None:
                    self._paused = False
                    self._transport.resume_reading()
                yield chunk
            elif out.done:
                return
            else:
                out.waiter = asyncio.get_running_loop().create_future()
                await out.waiter
                out.waiter = None

    def drain_text(self) -> str:
        """Everything queued so far as text (for start errors, before anyone reads)."""
        parts = [b"".join(out.chunks) for out in self._outputs]
        return b"".join(parts).decode("utf-8", "replace").strip()

    async def write(self, data: bytes) -> None:
        transport = self._transport
        if self.status is not None:
            raise BrokenPipeError("the command has ended")
        if transport is None or transport.is_closing():
            raise BrokenPipeError("the exec stream is closed")
        transport.write(data)
        await self._can_write.wait()
        if self.closed.done():
            raise BrokenPipeError("the exec stream is closed")

    async def write_eof(self) -> None:
        """Half-close: shutdown(SHUT_WR) once queued bytes are sent; output keeps coming."""
        transport = self._transport
        if self.status is None and transport is not None and not transport.is_closing() \
                and transport.can_write_eof():
            transport.write_eof()

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()

    def abort(self) -> None:
        if self._transport is not None:
            self._transport.abort()

    def cut(self) -> None:
        """Sever it at its socket, which needs no loop (on one that has ended, `abort`
        raises); a stream over an ssh channel has none, and the ssh connection's cut ends it."""
        if self._transport is None:
            return
        sock = self._transport.get_extra_info("socket")
        if sock is None:
            self.abort()
        else:
            sock.shutdown(socket.SHUT_RDWR)
