"""A helper for tests that drive a program as a person at a terminal does: on a real pty."""

from __future__ import annotations

import fcntl
import os
import pty
import select
import signal
import struct
import sys
import termios
import time
from collections.abc import Sequence

ORCH = [sys.executable, "-m", "orch_magics.cli"]


def on_terminal(argv: Sequence[str], script: Sequence[tuple[bytes, bytes | tuple[int, int]]],
                timeout: float = 60) -> tuple[int, bytes]:
    """Run `argv` with a pty as its controlling terminal; for each (wait_for, typed) of
    `script`, wait until the screen shows `wait_for` (after what the previous step waited for),
    then type `typed`, or with (columns, rows) resize the window (its programs get SIGWINCH).
    Returns the exit status and everything the screen showed."""
    pid, fd = pty.fork()
    if pid == 0:  # the child: stdin, stdout and stderr are the terminal
        os.execvp(argv[0], list(argv))
    screen, seen_to, deadline = b"", 0, time.monotonic() + timeout
    try:
        for wait_for, typed in script:
            while (found := screen.find(wait_for, seen_to)) < 0:
                chunk = _read(fd, deadline)
                if not chunk:
                    raise AssertionError(f"never shown: {wait_for!r}; the screen: {screen!r}")
                screen += chunk
            seen_to = found + len(wait_for)
            if isinstance(typed, tuple):
                columns, rows = typed
                fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))
            else:
                os.write(fd, typed)
        while chunk := _read(fd, deadline):
            screen += chunk
    finally:
        os.close(fd)
        if time.monotonic() >= deadline:  # hung: the assertion says so, no process is left
            os.kill(pid, signal.SIGKILL)
        _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status), screen


def _read(fd: int, deadline: float) -> bytes:
    """What the terminal shows next; b"" once the program closed it (or time ran out)."""
    ready, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
    if not ready:
        return b""
    try:
        return os.read(fd, 65536)
    except OSError:  # EIO: every process holding the terminal has ended
        return b""
