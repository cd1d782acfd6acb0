"""Linux pipe buffers: grow one, and how much room one has left.

A pipe holds 64 KiB by default; grown to 1 MiB (the unprivileged maximum) a reader gets up to
256 KiB per read, a quarter of the wake-ups per gigabyte. Any other kind of file is left as
it is and has no limit here.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import stat
import struct
import termios

#: Pipe capacity asked of the kernel (1 MiB is the unprivileged maximum).
PIPE_SIZE = 1 << 20
F_SETPIPE_SZ = getattr(fcntl, "F_SETPIPE_SZ", 1031)  # Linux; named in fcntl from Python 3.10
F_GETPIPE_SZ = getattr(fcntl, "F_GETPIPE_SZ", 1032)


def grow_pipe(fd: int) -> None:
    """Ask for a PIPE_SIZE buffer on the pipe behind `fd` (not a pipe, or refused: unchanged)."""
    with contextlib.suppress(OSError):
        if stat.S_ISFIFO(os.fstat(fd).st_mode):
            fcntl.fcntl(fd, F_SETPIPE_SZ, PIPE_SIZE)


def pipe_capacity(fd: int) -> int | None:
    """The buffer size of the pipe behind `fd`, or None when `fd` is no pipe."""
    try:
        return fcntl.fcntl(fd, F_GETPIPE_SZ) if stat.S_ISFIFO(os.fstat(fd).st_mode) else None
    except OSError:
        return None


def unread(fd: int) -> int | None:
    """Bytes written to the pipe behind `fd` and not read yet (None: cannot tell)."""
    try:
        return int(struct.unpack("i", fcntl.ioctl(fd, termios.FIONREAD, b"\0" * 4))[0])
    except OSError:
        return None
