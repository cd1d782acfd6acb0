"""Private local folders holding the sockets that forward to a far unix socket (a docker
engine behind ssh), and their removal: on close, at exit, and, for a process killed outright
(`kill -9`, an unhandled signal), by the next process that makes one (chains8: such folders
stayed in /tmp for good)."""

from __future__ import annotations

import atexit
import contextlib
import os
import re
import shutil
import socket
import tempfile

PREFIX = "orch-ssh-"
#: A folder's name: the prefix, the pid of the process that made it, then mkdtemp's part.
_NAME = re.compile(rf"{PREFIX}(\d+)-")
#: The largest pid Linux gives (PID_MAX_LIMIT).
_PID_MAX = 1 << 22
#: This process's folders not removed yet (their pools were never closed: removed at exit).
_MADE: set[str] = set()


def made_socket() -> str:
    """The path of a socket to forward, in a new folder only this user can enter."""
    _sweep(tempfile.gettempdir())
    folder = tempfile.mkdtemp(prefix=f"{PREFIX}{os.getpid()}-")
    _MADE.add(folder)
    return os.path.join(folder, "sock")


def remove(local: str) -> None:
    """Remove the socket `local` with its folder."""
    folder = os.path.dirname(local)
    _MADE.discard(folder)
    shutil.rmtree(folder, ignore_errors=True)


@atexit.register
def _remove_made() -> None:
    for folder in list(_MADE):
        shutil.rmtree(folder, ignore_errors=True)


def _sweep(tmp: str) -> None:
    """Remove this user's folders left by processes that are gone, whose socket nobody
    listens on any more (a pid of another pid namespace sharing /tmp is alive: it answers)."""
    with contextlib.suppress(OSError), os.scandir(tmp) as entries:
        for entry in entries:
            found = _NAME.match(entry.name)
            with contextlib.suppress(OSError):
                if found is None or entry.stat(follow_symlinks=False).st_uid != os.geteuid() \
                        or not entry.is_dir(follow_symlinks=False):
                    continue
                if not _alive(int(found[1])) and not _answers(entry.path):
                    shutil.rmtree(entry.path, ignore_errors=True)


def _alive(pid: int) -> bool:
    """Whether `pid` is a process here (this one too; one of another user's is); a number
    no pid can be (`orch-ssh-2147483648-x`, planted: review17) is none."""
    if not 0 < pid <= _PID_MAX:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True


def _answers(folder: str) -> bool:
    """Whether something listens on the folder's socket."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        probe.settimeout(1)
        try:
            probe.connect(os.path.join(folder, "sock"))
        except OSError:
            return False
    return True
