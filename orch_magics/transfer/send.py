"""The local half of a put: the bytes to send (a file, or a directory as a tar stream).

The source is read once: a thread reads frames ahead of the sender and hashes them as it
reads (hashlib releases the GIL), so reading, hashing and sending overlap. The stream is
frames (scripts.frame_header + bytes) and a last line with the size and sha256 of what was
read, which the far end compares with what it wrote before it renames anything.
"""

from __future__ import annotations

import hashlib
import io
import os
import queue
import stat
import tarfile
import threading
from collections.abc import Callable, Iterator
from typing import Any, Literal, Protocol

from ..process.events import Event, Exit, Stdout
from .model import Progress, TransferError
from .read_check import Checked, changed
from .scripts import end_line, frame_header

#: Bytes per frame: each costs one `dd` at the far end, and at most AHEAD + 1 are in memory.
#: Puts at once (a fleet's) share it: each reads FRAME / their number, at least MIN_FRAME
#: (files17: ten targets held 1.3 GB for a 100 MB file, 16 MiB frames each).
FRAME = 16 << 20
MIN_FRAME = 1 << 20
#: Frames read (and hashed) ahead of the one being sent.
AHEAD = 2
#: A directory's tar stream holds the folder as TOP and, last, MODES: the modes of the
#: folders that tar cannot be trusted to give (see `_deferred`), which the far end sets.
TOP, MODES = "data", "modes"


class _Pipe:
    """The write end of an os.pipe as the file object tarfile writes into."""

    def __init__(self, fd: int) -> None:
        self.fd = fd

    def write(self, data: bytes) -> int:
        view = memoryview(data)
        while view:
            view = view[os.write(self.fd, view):]
        return len(data)


class Readable(Protocol):
    """What a put reads its bytes from: a file, or a directory's tar stream."""

    def read(self, size: int, /) -> bytes: ...

    def close(self) -> None: ...


def _deferred(mode: int) -> bool:
    """Whether a folder of this mode is sent owner-writable and gets its mode from MODES.
    busybox tar gives a folder its mode as it makes it, so an ordinary user could not fill a
    read-only one, and as an ordinary user it never sets setgid (GNU tar does both at the end)."""
    return mode & 0o700 != 0o700 or mode & 0o7000 != 0


def _mode_line(name: str, mode: int) -> bytes:
    """One line of MODES: the mode (five digits: GNU chmod keeps a folder's setgid bit for
    fewer) and the member's name as `printf %b` reads it (a name may hold newlines)."""
    escaped = name.replace("\\", "\\\\").replace("\n", "\\n")
    return os.fsencode(f"{mode:05o} {escaped}\n")


class TarStream:
    """A directory as a tar stream (members TOP, TOP/a, …, then MODES: see `_deferred`),
    written into a pipe by a thread. A read at the end raises the thread's error, so a
    failed walk is never a short archive."""

    def __init__(self, root: str) -> None:
        read, write = os.pipe()
        self.file = os.fdopen(read, "rb")
        self.error: OSError | None = None
        self.modes: list[bytes] = []
        self.current = TOP
        self.root = root
        threading.Thread(target=self._write, args=(root, write), daemon=True,
                         name="orch-tar").start()

    def _owner_writable(self, member: tarfile.TarInfo) -> tarfile.TarInfo:
        """A folder whose mode is deferred, as sent: owner rwx added, its mode kept for MODES
        (not TOP's: the put's command line carries that one). A special file made since the
        walk is refused as the walk refused them."""
        if not (member.isreg() or member.isdir() or member.issym() or member.islnk()):
            raise tarfile.TarError(_special(member.name))
        self.current = member.name  # what a read that fails from here on was reading
        mode = stat.S_IMODE(member.mode)
        if member.isdir() and _deferred(mode):
            if member.name != TOP:
                self.modes.append(_mode_line(member.name, mode))
            member.mode |= 0o700
        return member

    def _write(self, root: str, fd: int) -> None:
        try:
            with _CheckedTar.open(fileobj=_Pipe(fd), mode="w|",  # type: ignore[call-overload]
                                  format=tarfile.GNU_FORMAT) as tar:
                tar.path_of = self._path
                tar.add(root, arcname=TOP, recursive=True, filter=self._owner_writable)
                modes = b"".join(reversed(self.modes))  # deepest first: a folder in a
                info = tarfile.TarInfo(MODES)  # folder without x could not be reached
                info.size, info.mode = len(modes), 0o600
                tar.addfile(info, io.BytesIO(modes))
        except BrokenPipeError:  # the reader stopped (interrupt, failure): nothing more to do
            pass
        except (OSError, tarfile.TarError) as exc:  # set before the pipe closes: read sees it
            if str(exc) == "unexpected end of data":  # tarfile.copyfileobj: a file shrank
                exc = OSError(f"{self._path(self.current)} shrank while it was read")
            self.error = exc if isinstance(exc, OSError) else OSError(str(exc))  # named no file
        finally:
            os.close(fd)

    def _path(self, name: str) -> str:
        """The path of member `name` here."""
        return os.path.join(self.root, name.removeprefix(TOP).lstrip("/"))

    def read(self, size: int, /) -> bytes:
        data = self.file.read(size)
        if not data and self.error is not None:
            raise self.error
        return data

    def close(self) -> None:
        self.file.close()


class _CheckedTar(tarfile.TarFile):
    """tarfile whose file members are refused when written to while read (`read_check`)."""

    path_of: Callable[[str], str]

    def addfile(self, tarinfo: tarfile.TarInfo, fileobj: Any = None) -> None:
        if not isinstance(fileobj, io.BufferedReader):  # a folder, a link, MODES (in memory)
            return super().addfile(tarinfo, fileobj)
        checked = Checked(fileobj)
        super().addfile(tarinfo, checked)
        if checked.changed():
            raise OSError(f"{self.path_of(tarinfo.name)} changed while it was read (written to "
                          f"in place): put the folder again")


def _special(name: str) -> str:
    return f"{name} is a device file, a fifo or a socket: a put copies files, folders and links"


def _padded(size: int, unit: int = tarfile.BLOCKSIZE) -> int:
    """`size` bytes padded to whole `unit`s (tar blocks, or the archive's records)."""
    return -(-size // unit) * unit


def tar_size(root: str) -> int:
    """How many bytes TarStream(root) will send, walked now as tarfile walks it (links not
    followed; GNU long-name headers, hard links without data, MODES, two end blocks and the
    padding to a whole record): a directory put's progress total. A device file, a fifo or
    a socket in it is refused, as a get refuses them (tarfile dropped sockets silently and
    sent the others, which a get of the same folder then refused)."""
    total, seen, modes = 0, set(), 0
    stack = [(root, TOP)]
    while stack:
        path, name = stack.pop()
        info = os.lstat(path)
        if not (stat.S_ISREG(info.st_mode) or stat.S_ISDIR(info.st_mode)
                or stat.S_ISLNK(info.st_mode)):
            raise TransferError(_special(path))
        entry = name + "/" if stat.S_ISDIR(info.st_mode) else name
        total += tarfile.BLOCKSIZE
        if (length := len(os.fsencode(entry))) > tarfile.LENGTH_NAME:
            total += tarfile.BLOCKSIZE + _padded(length + 1)
        if stat.S_ISLNK(info.st_mode):
            target = len(os.fsencode(os.readlink(path)))
            if target > tarfile.LENGTH_LINK:
                total += tarfile.BLOCKSIZE + _padded(target + 1)
        elif stat.S_ISREG(info.st_mode):
            inode = (info.st_dev, info.st_ino)
            if info.st_nlink > 1 and inode in seen:
                continue  # a hard link to a file already in the stream: a header only
            seen.add(inode)
            total += _padded(info.st_size)
        elif stat.S_ISDIR(info.st_mode):
            if name != TOP and _deferred(stat.S_IMODE(info.st_mode)):
                modes += len(_mode_line(name, stat.S_IMODE(info.st_mode)))
            stack += [(os.path.join(path, f), f"{name}/{f}") for f in os.listdir(path)]
    total += tarfile.BLOCKSIZE + _padded(modes)  # MODES
    return _padded(total + 2 * tarfile.BLOCKSIZE, tarfile.RECORDSIZE)


class PutSource:
    """What a put sends: its kind, mode, size (the progress total), and the bytes."""

    def __init__(self, path: str) -> None:
        try:
            info = os.stat(path)
        except OSError as exc:
            raise TransferError(f"cannot read {path}: {exc.strerror}") from None
        if not (stat.S_ISREG(info.st_mode) or stat.S_ISDIR(info.st_mode)):
            raise TransferError(f"{path} is not a regular file or directory")
        if not os.access(path, os.R_OK):
            raise TransferError(f"cannot read {path}: permission denied")
        self.path = path
        self.kind: Literal["file", "directory"] = \
            "directory" if stat.S_ISDIR(info.st_mode) else "file"
        self.mode = stat.S_IMODE(info.st_mode)
        #: The bytes the stream will have, as checked now (progress total; a directory that
        #: changes meanwhile sends more or fewer). None if the directory cannot be walked.
        self.size: int | None = (info.st_size if self.kind == "file"
                                 else _walked(os.path.realpath(path)))

    def open(self) -> Readable:
        """A new stream of the bytes to send (the file, or the tar stream of the directory)."""
        try:
            if self.kind == "directory":  # a link to a folder sends the folder
                return TarStream(os.path.realpath(self.path))
            return open(self.path, "rb")
        except OSError as exc:
            raise TransferError(f"cannot read {self.path}: {exc.strerror}") from None


def _walked(root: str) -> int | None:
    try:
        return tar_size(root)
    except OSError:  # the tar stream itself will say what cannot be read
        return None


def _size_now(path: str) -> int:
    """The size `path` says it has now (0 once it is gone)."""
    try:
        return os.stat(path).st_size
    except OSError:
        return 0


class GoAhead:
    """A sink of a put's run: the far end's `ORCH-READY` line (every check passed) lets the
    frames go. Without it a refusal said while the frames poured in could be lost: podman
    resets an exec's stream that a command left unread, its last words with it (files12)."""

    WORD = b"ORCH-READY\n"

    def __init__(self) -> None:
        self._tail = b""  # the end of what came, where the word may begin
        self._event = threading.Event()
        self.ready = False

    def feed(self, event: Event) -> None:
        if isinstance(event, Stdout) and not self._event.is_set():
            came = self._tail + event.data  # after what a login may have printed, too
            self.ready = self.WORD in came
            self._tail = came[-len(self.WORD):]
            if self.ready:
                self._event.set()
        elif isinstance(event, Exit):
            self._event.set()

    def close(self) -> None:
        self._event.set()

    def given(self, stopped: Callable[[], bool]) -> bool:
        """Wait (in the stdin feeder's thread) for the word; False once the run ended or
        `stopped()` says so without it."""
        while not self._event.wait(0.1):
            if stopped():
                return False
        return self.ready


class _Readers:
    """How many puts are reading their source now (their frames share FRAME)."""

    def __init__(self) -> None:
        self.count = 0
        self._lock = threading.Lock()

    def add(self, n: int) -> None:
        with self._lock:
            self.count += n

    def frame(self) -> int:
        return max(MIN_FRAME, FRAME // max(1, self.count))


_READERS = _Readers()


class Sending:
    """The framed stream of one put (see the module docstring), counted into `progress`.

    A thread owns the source stream: it reads and hashes up to AHEAD frames ahead. Iterating
    (feed_stdin steps it in a worker thread) yields headers and frames; it ends early once
    `stopped()` says so. `size`, `sha256` and `error` describe what was read.
    """

    def __init__(self, source: PutSource, progress: Progress,
                 stopped: Callable[[], bool], label: str = "") -> None:
        """`label`: what `progress` shows, started once the far end said go ahead (files13:
        a put it refused showed "0 B / 5.2 MB ✗ not copied", where a refused get shows none)."""
        self.path = source.path
        self.progress = progress
        self._shown = (label, source.size)
        self.stopped = stopped
        self.go_ahead = GoAhead()  # a sink of the run: frames wait for the far end's word
        self.size = 0
        self.sha = hashlib.sha256()
        self.error: str | None = None
        self._frames: queue.Queue[bytes | None] = queue.Queue(AHEAD)
        #: A file is sent as long as it was when the copy began, as a get and scp send it: a
        #: log written to meanwhile would keep a put going, past any total, for as long as
        #: its writer kept up. A size of 0 (/proc, /sys files) means: read to the end.
        self._limit = source.size if source.kind == "file" and source.size else None
        self._stream = source.open()
        fileno = getattr(self._stream, "fileno", None)
        #: The file read, and its mtime as its read began (`read_check`); a tar stream: None.
        self._file = (fileno(), os.fstat(fileno()).st_mtime_ns) if fileno else None
        _READERS.add(1)
        threading.Thread(target=self._read, daemon=True, name="orch-put-read").start()

    @property
    def sha256(self) -> str:
        return self.sha.hexdigest()

    def _read(self) -> None:
        """Read, hash and queue frames; None marks the end (whole, failed or stopped)."""
        try:
            while not self.stopped() and (data := self._stream.read(self._want())):
                self.sha.update(data)
                self.size += len(data)
                self._frames.put(data)
            if (self._limit is not None and self.size < self._limit and not self.stopped()
                    and _size_now(self.path) < self._limit):
                # truncated meanwhile (copytruncate): a prefix is not the file, whole or now
                # (a sysfs file says 4096 bytes, holds fewer, and still says 4096: it is whole)
                self.error = (f"read {self.size} of {self._limit} bytes of {self.path}: it "
                              f"shrank while it was read")
            elif self._file is not None and self._limit is not None and not self.stopped() \
                    and changed(*self._file, self.size, self.sha.digest(), hashlib.sha256):
                self.error = (f"{self.path} changed while it was read (written to in place): "
                              f"what was read is no version of it; put it again")
        except OSError as exc:
            self.error = f"reading {self.path} failed: {exc}"
        finally:
            _READERS.add(-1)
            self._stream.close()
            self._frames.put(None)

    def _want(self) -> int:
        """Bytes to read next: a frame, or what is left of a file's size at the start."""
        frame = _READERS.frame()
        return frame if self._limit is None else min(frame, self._limit - self.size)

    def __iter__(self) -> Iterator[bytes]:
        done = 0
        if not self.go_ahead.given(self.stopped):
            return  # the far end refused (and says why), or ended, or the copy was stopped
        self.progress.start(*self._shown)
        while not self.stopped() and (data := self._frames.get()) is not None:
            yield frame_header(len(data))
            yield data
            done += len(data)
            self.progress.update(done)
        if self.error is None and not self.stopped():
            yield end_line(self.size, self.sha256)

    def close(self) -> None:
        """Stop: free the frames read ahead, so the reading thread ends."""
        while True:
            try:
                self._frames.get_nowait()
            except queue.Empty:
                return
