"""A named run's log file: its (masked) output on disk, rotated, shared safely between the
processes that write it (two kernels starting the same name)."""

from __future__ import annotations

import errno
import fcntl
import os
import stat
import threading
import time
from typing import BinaryIO

from ..errors import OrchError
from ..process.events import Event, Stderr, Stdout
from ..secrets.masking import get_logger, mask_text
from ..text import clean_cut
from .lines import MAX_PARTIAL

#: A named run's log file is rotated to `<name>.log.1` past this size (one old file is kept).
DEFAULT_LOG_MAX_BYTES = 64 << 20

#: What `LogFile._mid` is once a line not ended was flushed: it is no stream's to go on.
_CUT_SHORT = object()


class LogFile:
    """Appends a run's (masked) output to a file, rotated past `max_bytes`.

    The one on-disk copy of a named run's output: when it grows past `max_bytes` it becomes
    `<path>.1` (replacing an older one) and a new file starts, so a service that prints for days
    takes at most twice `max_bytes` of disk. `close` (after each attempt) writes the lines not
    ended yet and keeps the file for the next attempt; `shutdown` releases it when the run is
    over for good.
    Lines go in whole, so stdout and stderr never share one: the line a stream has not ended
    yet waits (up to `MAX_PARTIAL` bytes) until it does, or until the attempt ends.
    Several processes may write one file (two kernels starting the same name): each append
    holds a lock and follows the file a rotation by another moved. A write that fails (a full
    disk) is said once in a warning; the output stays in memory (`logs`) and the run goes on.
    """

    def __init__(self, path: str, max_bytes: int = DEFAULT_LOG_MAX_BYTES) -> None:
        self.path = path
        self.max_bytes = max_bytes
        self._file: BinaryIO | None = None
        self._partial: dict[type[Event], bytes] = {Stdout: b"", Stderr: b""}
        #: The stream whose line the file ends in (CUT_SHORT: a flushed one), or None.
        self._mid: type[Event] | object | None = None
        self._lock = threading.Lock()
        self._failing = False  # a write failed and was said: say the next failure after a success
        try:
            os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
            self._open()
        except OSError as exc:  # before the run starts: nothing ran
            raise OrchError(f"not started: the named run's log {path} cannot be written "
                            f"({exc.strerror or exc}); give log_dir= or ORCH_LOG_DIR a folder "
                            f"that can be written") from None

    def _open(self) -> BinaryIO:
        """The file at `path` (the one open, else opened now). Never through a symlink, never
        a FIFO or a device (O_NONBLOCK: a FIFO put there cannot hang the open), and only our
        own file is made private."""
        if self._file is not None and not self._file.closed:
            return self._file
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW
                         | os.O_NONBLOCK | os.O_CLOEXEC, 0o600)
        except OSError as exc:  # O_NOFOLLOW's "Too many levels of symbolic links"
            if exc.errno == errno.ELOOP and os.path.islink(self.path):
                raise OSError(exc.errno, "it is a symbolic link (never followed)") from None
            raise
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            os.close(fd)
            raise OSError(0, "it is not a regular file")
        if info.st_uid != os.geteuid():  # made first by another user in a shared folder (runs6)
            os.close(fd)
            raise OSError(0, f"it belongs to another user (uid {info.st_uid}), who could read "
                             f"it: name a folder of your own")
        if info.st_mode & 0o077 and info.st_uid == os.geteuid():
            os.fchmod(fd, 0o600)
        self._file = os.fdopen(fd, "ab", buffering=0)
        return self._file

    def _is_current(self, file: BinaryIO) -> bool:
        """Whether `file` is still the one at `path` (not moved by a rotation)."""
        try:
            here = os.stat(self.path, follow_symlinks=False)
        except FileNotFoundError:
            return False
        mine = os.fstat(file.fileno())
        return (here.st_dev, here.st_ino) == (mine.st_dev, mine.st_ino)

    def _locked(self) -> BinaryIO:
        """The file at `path`, locked against the other writers of it; one that another
        process's rotation moved (before or while we waited) is closed and the new one taken."""
        while True:
            file = self._open()
            fcntl.flock(file.fileno(), fcntl.LOCK_EX)
            if self._is_current(file):
                return file
            file.close()  # releases the lock
            self._file = None

    def _append(self, data: bytes, *, line: bool = False) -> None:
        """Append `data` (`line`: on a line of its own, after output that ended mid-line);
        under the lock. A failure is warned about, not raised: the run goes on."""
        try:
            self._append_locked(data, line)
        except OSError as exc:
            if not self._failing:
                get_logger(__name__).warning(
                    "the named run's log %s cannot be written (%s): its output is kept in "
                    "memory only (logs NAME) until it can", self.path, exc.strerror or exc)
            self._failing = True
        else:
            self._failing = False

    def _append_locked(self, data: bytes, line: bool) -> None:
        file = self._locked()
        try:
            size = os.fstat(file.fileno()).st_size
            if line and size and os.pread(file.fileno(), 1, size - 1) != b"\n":
                data = b"\n" + data
            while size + len(data) > self.max_bytes:  # the part that fits, then a new file
                if not size and len(data) > 2 * self.max_bytes:  # what two files cannot hold
                    data = data[_line_start(data, len(data) - 2 * self.max_bytes):]  # goes
                    continue
                part = self._fitting(data, self.max_bytes - size, whole_file=not size)
                file.write(data[:part])
                data = data[part:]
                if not data:
                    return
                os.replace(self.path, self.path + ".1")  # the other writers find it moved
                fcntl.flock(file.fileno(), fcntl.LOCK_UN)
                file = self._locked()
                size = os.fstat(file.fileno()).st_size
            file.write(data)
        finally:
            if not file.closed:
                fcntl.flock(file.fileno(), fcntl.LOCK_UN)

    @staticmethod
    def _fitting(data: bytes, room: int, *, whole_file: bool) -> int:
        """How much of `data` goes into a file with `room` bytes left: whole lines (runs6: a
        read of 256 KiB went whole into a file of max_bytes=10000, 26 times its size); in an
        empty file, a line longer than the file is cut (in whole characters)."""
        part = data.rfind(b"\n", 0, max(room, 0)) + 1
        if part or not whole_file:
            return part
        return max(clean_cut(data, room, forward=False), 1)

    def feed(self, event: Event) -> None:
        if isinstance(event, (Stdout, Stderr)):
            kind = type(event)
            with self._lock:
                held = self._partial[kind] + event.data if self._partial[kind] else event.data
                end = held.rfind(b"\n") + 1
                if len(held) - end > MAX_PARTIAL:  # a line that never ends goes as it comes,
                    end = clean_cut(held, len(held) - 4, forward=False)  # in whole characters
                self._partial[kind] = held[end:]
                if end:
                    self._write(kind, held[:end])

    def _write(self, kind: type[Event] | None, data: bytes) -> None:
        """Append `data` of stream `kind` (None: a note of ours) on a line of its own when
        another stream, or a flush, left the file mid-line: streams never share a line."""
        self._append(data, line=self._mid is not None and self._mid is not kind)
        self._mid = None if data.endswith(b"\n") else kind

    def _flush_lines(self) -> None:
        """Write the lines not ended yet, each on a line of its own (under the lock)."""
        for kind, held in self._partial.items():
            if held:
                self._partial[kind] = b""
                self._write(kind, held)
                self._mid = _CUT_SHORT  # whoever writes next starts a new line

    def note(self, text: str) -> None:
        """A line of our own (start, restart, stop), marked `# orch:` and the writing process
        (two kernels running one notebook share NAME.log: their notes tell them apart)."""
        stamp = time.strftime("%Y-%m-%d %H:%M:%S")
        with self._lock:
            self._flush_lines()
            self._write(None, mask_text(f"# orch: {stamp} pid {os.getpid()}: {text}\n")
                        .encode("utf-8"))

    def close(self) -> None:
        """The attempt is over: its last lines go in (the file stays open for the next)."""
        with self._lock:
            self._flush_lines()

    def shutdown(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None


def _line_start(data: bytes, at: int) -> int:
    """The start of the first line of `data` at or after `at` (`at` itself, in a line that
    never ends before the data does)."""
    end = data.find(b"\n", at)
    return end + 1 if 0 <= end < len(data) - 1 else at
