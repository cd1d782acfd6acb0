"""The hidden temporary file a file-mode run writes (`.NAME.orch-XXXXXXXX.tmp`, beside NAME),
locked for as long as it is written, and the ones a process killed outright left.

A process killed by `kill -9` cannot set its bytes aside as `NAME.partial` (chains8): the
next run that writes in that folder does, for each temporary file of this user that no
process holds locked (a dead process's lock is gone with it; pid checks misjudge a writer on
another host of a shared folder, or in another pid namespace: review17).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import stat
import tempfile

#: What the temporary names hold between the target's name and mkstemp's random part.
MARK = ".orch-"
#: A temporary file's name: `.NAME.orch-` and mkstemp's 8 random characters.
_LEFT = re.compile(rf"\.(.+){re.escape(MARK)}[a-z0-9_]{{8}}\.tmp")


def create(directory: str, name: str) -> tuple[int, str]:
    """A new temporary file for `name` in `directory`, open for writing and locked: its fd
    and path. Made under a name no sweep looks at, locked, then given its own."""
    fd, fresh = tempfile.mkstemp(dir=directory, prefix=f".{name}{MARK}", suffix=".new")
    path = fresh.removesuffix(".new") + ".tmp"
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        try:
            os.link(fresh, path)  # never over another file of that name
            os.unlink(fresh)
        except FileExistsError:
            raise
        except OSError:  # a file system without hard links
            os.rename(fresh, path)
    except BaseException:
        os.close(fd)
        with contextlib.suppress(OSError):
            os.unlink(fresh)
        raise
    return fd, path


def set_aside_left(directory: str) -> None:
    """Rename each temporary file of this user in `directory` that nobody holds locked to its
    `NAME.partial`, oldest first (a later one replaces an earlier, as a failed run's does)."""
    found: list[tuple[os.DirEntry[str], re.Match[str]]] = []  # none if it cannot be listed
    with contextlib.suppress(OSError), os.scandir(directory) as entries:
        found = [(entry, match) for entry in entries if (match := _LEFT.fullmatch(entry.name))]
    for entry, match in sorted(found, key=lambda pair: _mtime(pair[0])):
        partial = os.path.join(directory, match[1] + ".partial")
        with contextlib.suppress(OSError):
            fd = os.open(entry.path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
            try:
                info = os.fstat(fd)
                if stat.S_ISREG(info.st_mode) and info.st_uid == os.geteuid():
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # held: being written
                    os.replace(entry.path, partial)
            finally:
                os.close(fd)


def _mtime(entry: os.DirEntry[str]) -> float:
    try:
        return entry.stat(follow_symlinks=False).st_mtime
    except OSError:
        return 0.0
