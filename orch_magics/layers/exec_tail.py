"""The end of an exec'd wrapper's stream (an engine's exec, sudo's): the status line, and
podman's words after it.

The wrapper prints its status line (``\\x1eorch-exit NONCE N``, remote.py) last: once it has
come, the exec is over, whatever the stream still carries. Podman's API service, when the
command left input unread, adds a line of its own ("Error: write unixpacket …: connection reset
by peer", a stderr frame: libpod's `hijackWriteError`) and resets the connection. After the
status line that line is only noise, and is dropped (that line only: a leftover process's own
`Error: disk full` is its output, chains31). Before it, podman's copy of the output
failed (its attach socket reports the reset before the output still queued in it), so what
was left of the output and the status line never came: `cut` then holds podman's reason.
"""

from __future__ import annotations

import re

from .remote import EXIT_MARK, StatusTail

#: How podman's own lines in an exec stream begin.
ENGINE_ERROR = b"Error: "
#: How podman's line begins when copying to or from the exec's attach socket failed.
_ATTACH_FAILED = (ENGINE_ERROR + b"write unixpacket ", ENGINE_ERROR + b"read unixpacket ")


class ExecTail:
    """Streaming parser of the wrapper's stream after its pid line: output, then the status line
    with the run's `nonce` (`status` is set as soon as it has come), then only podman's lines.

    Up to the status line it is `StatusTail`: only what may grow into that line is held back,
    and podman's line saying its copy failed, until more output or the end shows whose it is.
    Without `engine` (a stream no engine speaks on: sudo's), no line is taken for podman's.
    """

    def __init__(self, nonce: str, *, engine: bool = True) -> None:
        self._engine = engine
        mark = EXIT_MARK + nonce.encode("ascii") + b" "
        # as StatusTail reads it: stacked terminals' `onlcr` may end it `\r\r\n`
        self._line = re.compile(re.escape(mark) + rb"(\d{1,3})\r{0,4}\n")
        self._keep = len(mark) + 7  # the longest cut status line: mark, 3 digits, 4 \r
        self._tail = StatusTail(nonce)
        self._seen = b""  # the end of what came before: the line may be cut anywhere
        self._after = b""  # the start of a line after the status line, until it is known
        self._failed = b""  # a last line that may be podman's "copy failed"
        self.status: int | None = None
        #: Podman's reason when it cut the stream before the status line (None if it did not).
        self.cut: str | None = None

    def feed(self, data: bytes) -> bytes:
        """The part of `data` (with anything held before) that is surely the command's output."""
        if self.status is not None:
            return self._trailer(data)
        seen = self._seen + data
        found = self._line.search(seen)
        if found is None:
            self._seen = seen[-self._keep:]
            return self._hold_failure(self._tail.feed(data))
        end = found.end() - len(self._seen)  # the line ends in `data` (else found before)
        out = self._failed + self._tail.feed(data[:end])  # the line ends what the tail saw:
        self.status, held = self._tail.flush()  # the tail holds it
        self._seen = self._failed = b""
        return out + held + self._trailer(data[end:])

    def _hold_failure(self, out: bytes) -> bytes:
        """`out` without a last line that is (or may grow into) podman's, held until more
        output comes (a raw TTY stream may cut it anywhere)."""
        if not self._engine:
            return out
        out, self._failed = self._failed + out, b""
        start = out.rfind(b"\n", 0, len(out) - 1) + 1
        body = out[start:].removesuffix(b"\n")
        if body and any(h.startswith(body) or body.startswith(h) for h in _ATTACH_FAILED):
            out, self._failed = out[:start], out[start:]
        return out

    def _trailer(self, data: bytes) -> bytes:
        """After the status line: podman's lines saying its copy failed are dropped, the rest
        passed on (a process of the command that outlived it)."""
        if not self._engine:
            return data
        buf, self._after = self._after + data, b""
        while _podmans(buf):
            newline = buf.find(b"\n")
            if newline < 0:
                self._after = buf
                return b""
            buf = buf[newline + 1:]
        return buf

    def flush(self) -> bytes:
        """At the end of the stream: output still held back (a cut line that was not ours)."""
        if self.status is not None:
            held, self._after = self._after, b""
            return b"" if held.startswith(_ATTACH_FAILED) else held
        self.status, held = self._tail.flush()
        failed, self._failed = self._failed, b""
        if failed.endswith(b"\n") and not held:  # podman's line came last: it cut the stream
            self.cut = failed[len(ENGINE_ERROR):-1].decode("utf-8", "replace")
            return b""
        return failed + held


def _podmans(line: bytes) -> bool:
    """Whether `line` (the start of one) is, or may grow into, podman's "copy failed" line."""
    return bool(line) and any(h.startswith(line[:len(h)]) for h in _ATTACH_FAILED)
