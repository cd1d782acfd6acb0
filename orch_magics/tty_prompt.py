"""Asking a person on the controlling terminal (as sudo does), even when stdin is a pipe: the
CLI's questions, and terminal IPython's (it has no kernel to ask through)."""

from __future__ import annotations

import contextlib
import os


def ask_on_terminal(question: str) -> str | None:
    """Write `question` to /dev/tty and read one line back; None when there is no terminal,
    or it is a notebook kernel's child's (ORCH_IN_KERNEL: nobody types there)."""
    if os.environ.get("ORCH_IN_KERNEL"):
        return None
    try:
        fd = os.open("/dev/tty", os.O_RDWR | os.O_NOCTTY)
    except OSError:
        return None
    answer = b""
    try:
        os.write(fd, question.encode("utf-8"))
        while not answer.endswith(b"\n"):
            chunk = os.read(fd, 1024)
            if not chunk:  # Ctrl-D (or the terminal went away): what was typed is the answer
                break
            answer += chunk
    except OSError:
        return None
    finally:
        if not answer.endswith(b"\n"):  # Ctrl-D or Ctrl-C: what follows starts its own line
            with contextlib.suppress(OSError):
                os.write(fd, b"\n")
        os.close(fd)
    return answer.decode("utf-8", "replace").rstrip("\r\n")
