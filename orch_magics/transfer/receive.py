"""The local half of a get: a sink that lands the stream beside its destination (landing.py).

The first line is the header (scripts.py); then a file's bytes go to a temporary file beside
the destination, or a directory's tar stream is unpacked (in a thread) into a temporary
directory beside it. A thread writes and hashes what arrives, so the event loop only hands
chunks over. `drain` waits for that thread (blocking: the copy runs it in a thread, so an
interrupt meanwhile still wins); `commit` checks size and sha256 and renames, the one step
after which the copy is kept; `abort` leaves nothing.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable

from ..process.command import escaped
from ..process.events import Event, Stderr, Stdout
from ..sinks.batches import Batches
from ..text import printable
from .landing import FileLanding, Landing, TreeLanding
from .model import Progress, TransferError
from .scripts import Header, parse_header, said_by

#: How much of the remote side's stderr is kept for error messages.
STDERR_KEEP = 64 << 10
#: Bytes of a login's own words skipped before the header (then it is not coming: a TTY
#: mangles it, or a shell prints a whole file).
NOISE_MAX = 64 << 10
#: Bytes of the header line itself, at most (`ORCH-TRANSFER 1 f MODE SIZE`), with room.
HEADER_LINE = 100


class Spool:
    """Writes chunks into a Landing and hashes them, in arrival order, in a worker thread
    (`sinks.batches`). The first failure is kept in `error`; nothing more is written after it."""

    def __init__(self, target: Landing) -> None:
        self.target = target
        self.sha = hashlib.sha256()
        self.error: str | None = None
        self._batches = Batches(self._write, name="orch-get-write")

    def _write(self, data: bytes) -> None:
        if self.error is None:
            try:
                self.target.write(data)
                self.sha.update(data)
            except (OSError, TransferError) as exc:
                self.error = str(exc)

    def put(self, data: bytes) -> None:
        self._batches.add(data)

    def finish(self) -> None:
        """Wait until every chunk is written (idempotent)."""
        self._batches.finish()


class Receiver:
    """The sink of a get: header, then bytes into a Landing, hashed and counted as they come."""

    def __init__(self, dest: str, progress: Progress, on_error: Callable[[], None],
                 label: str | None = None) -> None:
        """`label`: what `progress` shows (the copy's both ends; browser15: the destination
        alone left an interrupted get's source unsaid), else the destination."""
        self.dest = dest
        self.label = label
        self.progress = progress
        self.on_error = on_error
        self.header: Header | None = None
        self.target: Landing | None = None
        self.error: str | None = None
        self.received = 0
        self.spool: Spool | None = None
        self._head = b""
        self._skipped = 0  # bytes of lines before the header
        self._seen = b""  # their start, for a message
        self._stderr = bytearray()
        self._dropping = False

    @property
    def stderr(self) -> str:
        return said_by(bytes(self._stderr))

    def feed(self, event: Event) -> None:
        if type(event) is Stderr:
            self._stderr += event.data
            del self._stderr[:-STDERR_KEEP]
        elif type(event) is Stdout and self.error is None and not self._dropping:
            try:
                self._data(event.data)
            except (OSError, TransferError) as exc:
                self.fail(str(exc))

    def close(self) -> None:
        pass

    def drop(self) -> None:
        """The copy was cancelled: bytes still in flight are dropped, not written."""
        self._dropping = True
        if self.spool is not None:
            self.spool.error = self.spool.error or "cancelled"

    @property
    def sha256(self) -> str:
        """The sha256 of what was written (complete once drained)."""
        return self.spool.sha.hexdigest() if self.spool is not None else hashlib.sha256().hexdigest()

    def fail(self, message: str) -> None:
        """Stop receiving: the run is stopped and nothing is kept."""
        self.error = self.error or message
        self.on_error()

    def _data(self, data: bytes) -> None:
        if self.target is None:
            data = self._header(data)
        if data and self.spool is not None:
            if self.spool.error is not None:
                raise TransferError(self.spool.error)
            self.spool.put(data)
            self.received += len(data)
            self.progress.update(self.received)

    def _header(self, data: bytes) -> bytes:
        """Find the header line in what came so far; start writing after it, and return what
        follows it. Lines before it, and words before it on its line, are a login's own (an
        `echo` in `~/.bashrc`, read by bash for every command sshd runs): skipped, up to
        NOISE_MAX bytes, as the sha256 checks the data whatever came before it."""
        if self.error is not None:  # refused already: what follows is not looked at
            return b""
        head = self._head + data
        at = 0
        while (end := head.find(b"\n", at) + 1) > 0:
            line = head[at:end]
            header = parse_header(line[line.rfind(b"ORCH-TRANSFER 1 "):])  # after words unended
            if header is not None:
                self._start(header)
                self._head = b""
                return head[end:]
            self._skipped += len(line)
            self._seen = (self._seen + line)[:60]
            at = end
            if self._skipped > NOISE_MAX:
                self._head = b""
                self._bad_header()
                return b""
        self._head = head[at:]
        if len(self._head) > NOISE_MAX + HEADER_LINE:  # a line that never ends: not a header
            self._bad_header()
        return b""

    def _start(self, header: Header) -> None:
        self.header = header
        self.target = FileLanding(self.dest) if header.kind == "file" else TreeLanding(self.dest)
        self.spool = Spool(self.target)
        self.progress.start(self.label or printable(escaped(self.dest)),  # one line
                            header.size if header.kind == "file" else None)

    def _bad_header(self) -> None:
        seen = (self._seen + self._head)[:60].decode("utf-8", "replace")
        self.fail(f"unexpected output before the data ({seen!r}): does the chain allocate a "
                  f"TTY (tty: true) or print a banner?")

    def drain(self) -> None:
        """Wait until every byte received is written (blocking; before `commit`)."""
        assert self.target is not None and self.spool is not None
        self.spool.finish()
        self.target.finish()

    def commit(self, remote_sha: str | None) -> None:
        """Keep what was received (drained) if it is whole and its sha256 matches the sender's."""
        assert self.header is not None and self.target is not None and self.spool is not None
        if self.spool.error is not None:
            raise TransferError(self.spool.error)
        size = self.header.size if self.header.kind == "file" else None
        if size is not None and self.received != size:
            raise TransferError(f"received {self.received} of {size} bytes")
        if remote_sha is None:  # its hasher failed: no digest, which is not a mismatch
            raise TransferError("the far end sent no sha256 of what it sent (its sha256sum "
                                "or openssl failed), so the copy cannot be checked")
        if remote_sha != self.sha256:
            raise TransferError(f"sha256 mismatch: the remote side sent {remote_sha}, "
                                f"{self.sha256} arrived")
        self.target.commit(self.header.mode)
        self.target = None

    def abort(self) -> None:
        """Remove whatever was written (blocking; safe to call more than once)."""
        if self.target is not None:
            self.drop()  # what is still queued is not written, only to be removed
        if self.spool is not None:
            self.spool.finish()
        if self.target is not None:
            self.target.abort()
            self.target = None
