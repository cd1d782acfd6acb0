"""Where a get's bytes land: beside the destination, under no name or a hidden one, renamed
onto it only when the copy is whole (`FileLanding` for a file, `TreeLanding` for a directory's
tar stream, unpacked in a thread as the sender's modes say).

A hidden temporary is locked (flock) by its receiver for as long as it works on it, so the
next get to the same destination can remove what a receiver killed outright left (`_sweep`):
the kernel drops a dead process's locks, and no handler of ours runs on SIGKILL.
"""

from __future__ import annotations

import atexit
import contextlib
import errno
import fcntl
import grp
import os
import posixpath
import pwd
import secrets
import shutil
import stat
import tarfile
import tempfile
import threading
import time
from typing import Protocol

from .model import TransferError


class Landing(Protocol):
    """Where received bytes go until they are committed (renamed) or dropped."""

    def write(self, data: bytes) -> None: ...

    def finish(self) -> None:
        """Wait until everything written has landed (blocking)."""

    def commit(self, mode: int) -> None:
        """Rename into place (quick: `finish` has run)."""

    def abort(self) -> None: ...


def _os_error(doing: str, exc: OSError) -> TransferError:
    """`doing: reason` (Python's "[Errno 2] … '/path/.x.orch-get-abc'" says less, and worse)."""
    return TransferError(f"{doing}: {exc.strerror or exc}")


def _temp_name(dest: str) -> tuple[str, str]:
    """The directory of `dest` and a hidden prefix for temporary names beside it (without
    the name when it is too long to take one more suffix within NAME_MAX)."""
    folder, name = os.path.split(os.path.abspath(dest))
    return folder, f".{name}.orch-get-" if len(os.fsencode(name)) <= 200 else ".orch-get-"


#: Seconds a hidden temporary is left alone after it was made or last changed (its mtime), so
#: that one just made, not yet locked by its receiver, is never taken for a dead receiver's.
STALE_AFTER = 10.0
_SUFFIX = 8  # what mkstemp, mkdtemp and `_linked` add to a prefix


def _claim(fd: int) -> int:
    """`fd` (a temporary just made), holding an exclusive lock for as long as it or a copy of
    it is open: it tells `_sweep` that a live receiver works on it. Where the file system has
    no locks, nothing is swept there either (its flock fails too)."""
    with contextlib.suppress(OSError):
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # just made, by us: held by no other
    return fd


def _sweep(folder: str, prefix: str) -> None:
    """Remove the hidden temporaries of earlier gets to this destination whose receiver is
    gone: this user's, named as ours are, unchanged for STALE_AFTER seconds and not locked
    (a live receiver holds its lock; a dead one's went with it). Never raises: cleaning up
    is not what the get was asked for."""
    try:
        entries = [e for e in os.scandir(folder)
                   if e.name.startswith(prefix) and len(e.name) == len(prefix) + _SUFFIX]
    except OSError:
        return
    for entry in entries:
        try:
            fd = os.open(entry.path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        except OSError:
            continue
        try:
            st = os.fstat(fd)
            if st.st_uid != os.geteuid() or time.time() - st.st_mtime < STALE_AFTER:
                continue
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # held: a live receiver's
        except OSError:
            continue
        else:
            if stat.S_ISDIR(st.st_mode):  # a big tree takes long: not on the caller's loop
                threading.Thread(target=_remove_tree, args=(entry.path,), daemon=False,
                                 name="orch-sweep").start()  # finished before the process ends
            else:
                with contextlib.suppress(OSError):
                    os.unlink(entry.path)
        finally:
            os.close(fd)


def _release(fd: int) -> int:
    """Close a `_claim` unless it is closed already (-1); -1, for the holder to keep."""
    if fd >= 0:
        os.close(fd)
    return -1


def _remove_tree(path: str) -> None:
    """Remove a tree, read-only folders in it too (it was unpacked with the modes it had)."""
    for folder, subfolders, _ in os.walk(path):  # links to folders are listed, not entered
        for sub in subfolders:
            inside = os.path.join(folder, sub)
            if not os.path.islink(inside):
                with contextlib.suppress(OSError):
                    os.chmod(inside, 0o700)
    shutil.rmtree(path, ignore_errors=True)


class AsSent:
    """The filter of a get's tar stream: the tree as sent, and nothing outside it, nor the
    temporary folder `temp` it is unpacked in (a folder got into itself would carry it).

    On top of tarfile's "tar" filter (no absolute names, nothing resolving outside the
    folder), each member is checked against what the stream made on disk so far (lstat, so
    a file system that ignores case or normalizes Unicode, such as macOS's, vfat or SMB, is
    judged as it is: review24): no member lands under a symlink, nor on one but a symlink
    replacing it; a hard link names a regular file this stream made (one to a symlink it sent,
    as `cp -al` makes, lands as that symlink: files15), device files and fifos are refused.
    Modes are kept as sent but setuid and setgid (the "tar" filter drops group/other write
    and sticky); owners are never taken from the stream (tarfile as root would chown to them).
    """

    def __init__(self, temp: str) -> None:
        self._temp = os.path.basename(temp)
        self._files: set[str] = set()  # names this stream made regular files
        self._links: set[str] = set()  # and symlinks

    def __call__(self, member: tarfile.TarInfo, path: str) -> tarfile.TarInfo:
        name = posixpath.normpath(member.name.lstrip("/"))
        if self._temp in name.split("/"):  # the far end shares this disk: `get d d/`
            raise TransferError("the folder would be copied into itself (its copy is being "
                                "written inside it, and the far end reads that too)")
        if not (member.isreg() or member.isdir() or member.issym() or member.islnk()):
            raise TransferError(f"{name} is a device file or a fifo: a get copies files, "
                                f"folders and links")
        parts = name.split("/")
        for n in range(1, len(parts) + 1):
            if n == len(parts) and member.issym():
                break  # a symlink sent again replaces the one there (tarfile unlinks it)
            if os.path.islink(os.path.join(path, *parts[:n])):
                raise TransferError(f"{name} would be written through the link "
                                    f"{'/'.join(parts[:n])}")
        if member.islnk():  # its target as tarfile takes it (review31: one absolute but for
            target = posixpath.normpath(member.linkname)  # its `/` named a decoy, not it)
            made = os.path.join(path, target)
            if target in self._links and os.path.islink(made):
                member = member.replace(linkname=os.readlink(made), deep=False)
                member.type = tarfile.SYMTYPE  # (a copy: `replace` made it)
            elif target not in self._files or not _regular(made):
                raise TransferError(f"{name} is a hard link to {member.linkname}, which is "
                                    f"not a file sent before it")
        checked = tarfile.tar_filter(member, path)
        self._files.discard(name)  # a name sent again is what it is now (files11)
        self._links.discard(name)
        if member.issym():
            self._links.add(name)
        elif not member.isdir():
            self._files.add(name)
        return checked.replace(mode=member.mode & 0o1777, uid=-1, gid=-1, uname="", gname="",
                               deep=False)  # chown(-1, -1) changes nothing


def _regular(path: str) -> bool:  # itself, not what a link there names
    try:
        return stat.S_ISREG(os.lstat(path).st_mode)
    except OSError:
        return False


def _keep_owners(dest: str, temp: int) -> None:
    """A replaced file keeps its owner and group, as cp and scp do: they are given to the
    temporary file before any data is written, or the copy is refused; a rename never hands
    another user's file to this one (the far end's put script says the same). `temp`: the
    temporary file's descriptor."""
    try:
        old = os.stat(dest)
    except OSError:  # a new file
        return
    if not stat.S_ISREG(old.st_mode) or os.path.islink(dest):
        return
    with contextlib.suppress(OSError):
        os.fchown(temp, old.st_uid, old.st_gid)
        return
    me = os.geteuid()
    said, what = ((f"is owned by {_name(old.st_uid)}", "owner") if old.st_uid != me else
                  (f"belongs to group {_name(old.st_gid, group=True)}", "group"))
    hint = "" if me == 0 else "copy as root or "
    raise TransferError(f"{dest} {said}: as user {_name(me)} a copy cannot keep its {what} "
                        f"(it replaces a file by renaming a new one over it); {hint}remove "
                        f"{dest} first")


def _name(number: int, group: bool = False) -> str:
    """A user's (or group's) name, or its number where it has none."""
    try:
        return grp.getgrgid(number).gr_name if group else pwd.getpwuid(number).pw_name
    except KeyError:
        return str(number)


class FileLanding:
    """A file beside `dest`, replaced onto it on commit. It has no name until then (O_TMPFILE),
    so a receiver killed outright (SIGKILL, the OOM killer) leaves nothing; where the file
    system cannot make one, a hidden temporary name is used."""

    def __init__(self, dest: str) -> None:
        if os.path.isdir(dest):
            raise TransferError(f"{dest} is a directory (a file is never put in its place)")
        self.dest = dest
        self.folder, self._prefix = _temp_name(dest)
        _sweep(self.folder, self._prefix)
        self.temp: str | None = None  # its name, once it has one
        self._lock = -1  # a named temporary's lock, kept past its early close (finish)
        try:
            fd = _unnamed(self.folder)
            if fd is None:
                fd, self.temp = tempfile.mkstemp(dir=self.folder, prefix=self._prefix)
        except OSError as exc:
            raise _os_error(f"cannot write in {self.folder}", exc) from None
        self.file = os.fdopen(_claim(fd), "wb")  # an unnamed one: locked once it is linked
        if self.temp is not None:
            try:
                self._lock = os.dup(fd)  # the same lock, held until the commit
            except OSError as exc:
                self.abort()
                raise _os_error(f"cannot write in {self.folder}", exc) from None
        try:
            _keep_owners(dest, fd)
        except TransferError:
            self.abort()
            raise

    def write(self, data: bytes) -> None:
        try:
            self.file.write(data)
        except OSError as exc:
            raise _os_error(f"cannot write {self.dest}", exc) from None

    def finish(self) -> None:
        """Written out (in the writing thread): a named file is closed here, as its close may
        flush for long (NFS); an unnamed one stays open until it is linked."""
        try:
            self.file.flush()
            if self.temp is not None:
                self.file.close()
        except OSError as exc:
            raise _os_error(f"cannot write {self.dest}", exc) from None

    def commit(self, mode: int) -> None:
        try:
            replaced = os.lstat(self.dest) if os.path.isfile(self.dest) else None
        except OSError:
            replaced = None
        try:
            if replaced is not None and stat.S_ISREG(replaced.st_mode):
                mode = replaced.st_mode  # a replaced file keeps its mode (owners: _keep_owners)
            if self.temp is None:  # named only now, for the rename onto dest
                os.fchmod(self.file.fileno(), mode & 0o1777)  # no setuid/setgid, as in a folder
                self.temp = _linked(self.file.fileno(), self.folder, self._prefix)
            else:
                os.chmod(self.temp, mode & 0o1777)
            os.replace(self.temp, self.dest)  # locked until here: never swept
            self.file.close()
        except OSError as exc:
            raise _os_error(f"cannot write {self.dest}", exc) from None
        finally:
            self._lock = _release(self._lock)

    def abort(self) -> None:
        with contextlib.suppress(OSError):  # a full disk fails the flush of what is buffered
            self.file.close()
        if self.temp is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.temp)
        self._lock = _release(self._lock)


def _unnamed(folder: str) -> int | None:
    """A new file in `folder` with no name (O_TMPFILE), or None where the file system (or the
    kernel) has none to give."""
    flag = getattr(os, "O_TMPFILE", None)  # Linux only; and naming one later takes /proc
    if flag is None or not os.path.isdir("/proc/self/fd"):
        return None
    try:
        return os.open(folder, flag | os.O_WRONLY, 0o600)
    except OSError as exc:
        if exc.errno in (errno.EOPNOTSUPP, errno.EISDIR, errno.EINVAL):
            return None
        raise


def _linked(fd: int, folder: str, prefix: str) -> str:
    """Give the unnamed file `fd` a hidden temporary name in `folder` and return it (a
    `dst_dir_fd` makes os.link call linkat with AT_SYMLINK_FOLLOW; plain link(2) would link
    the /proc entry itself)."""
    into = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        while True:
            name = f"{prefix}{secrets.token_hex(4)}"
            try:
                os.link(f"/proc/self/fd/{fd}", name, dst_dir_fd=into, follow_symlinks=True)
                return os.path.join(folder, name)
            except FileExistsError:
                continue
    finally:
        os.close(into)


class TreeLanding:
    """A temporary directory beside `dest`, filled by unpacking the tar stream in a thread."""

    def __init__(self, dest: str) -> None:
        if os.path.isdir(dest):
            raise TransferError(f"{dest} already exists (a directory is never merged into it)")
        if os.path.lexists(dest):
            raise TransferError(f"{dest} already exists and is not a directory")
        self.dest = dest
        folder, prefix = _temp_name(dest)
        _sweep(folder, prefix)
        try:
            self.temp = tempfile.mkdtemp(dir=folder, prefix=prefix)
        except OSError as exc:
            raise _os_error(f"cannot write in {folder}", exc) from None
        try:
            self._lock = _claim(os.open(self.temp, os.O_RDONLY | os.O_DIRECTORY))
        except OSError as exc:  # no descriptor left (EMFILE): nothing is left behind either
            os.rmdir(self.temp)
            raise _os_error(f"cannot write in {folder}", exc) from None
        read, self.pipe = os.pipe()
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._unpack, args=(read,), daemon=True,
                                       name="orch-untar")
        self.thread.start()
        atexit.register(self.abort)  # a get left running at exit (a shut-down kernel's task)

    def _unpack(self, read: int) -> None:
        with os.fdopen(read, "rb") as stream:
            try:
                with tarfile.open(fileobj=stream, mode="r|") as tar:
                    tar.extractall(self.temp, filter=AsSent(self.temp))
            except Exception as exc:  # reported on commit
                self.error = exc
            while stream.read(1 << 20):  # let the writer finish whatever happened
                pass

    def _failed(self) -> TransferError:
        """Why unpacking stopped (an OSError by its reason: its file name is the temporary one)."""
        doing = f"unpacking into {self.dest} failed"
        if isinstance(self.error, OSError):
            return _os_error(doing, self.error)
        return TransferError(f"{doing}: {self.error}")

    def write(self, data: bytes) -> None:
        if self.error is not None:
            raise self._failed()
        view = memoryview(data)
        while view:
            view = view[os.write(self.pipe, view):]

    def finish(self) -> None:
        if self.pipe >= 0:
            os.close(self.pipe)
            self.pipe = -1
        self.thread.join()

    def commit(self, mode: int) -> None:
        if self.error is not None:
            raise self._failed()
        if os.path.lexists(self.dest):
            raise TransferError(f"{self.dest} already exists")
        try:
            os.chmod(self.temp, mode & 0o1777)  # no setuid/setgid, as the folders inside
            os.rename(self.temp, self.dest)
        except OSError as exc:
            raise _os_error(f"cannot write {self.dest}", exc) from None
        finally:
            self._lock = _release(self._lock)
            atexit.unregister(self.abort)

    def abort(self) -> None:
        atexit.unregister(self.abort)
        self.finish()
        _remove_tree(self.temp)
        self._lock = _release(self._lock)
