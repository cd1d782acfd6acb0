"""Asking a person on the controlling terminal (as sudo does), even when stdin is a pipe: the
CLI's questions, and terminal IPython's (it has no kernel to ask through)."""

from __future__ import annotations

import contextlib
import os

#: Set in a kernel's environment by orch_magics (kernel_input.watch_cells): the CLI a cell
#: starts asks nobody on its terminal (IPython's `!` gives it a pty nobody types in).
IN_A_KERNEL = "ORCH_IN_KERNEL"
#: Set by jupyter_client in every kernel's environment, orch_magics loaded or not.
JUPYTER_KERNEL = "JPY_PARENT_PID"


def in_a_kernel() -> bool:
    """Whether this process is a notebook kernel or a command a cell started: a terminal it
    has is a pty nobody types in (IPython's `!`). ORCH_IN_KERNEL is set by a kernel orch
    watches; JPY_PARENT_PID by jupyter_client in every kernel's environment (safety18:
    under a kernel without orch_magics, `!orch` hung on its question)."""
    return bool(os.environ.get(IN_A_KERNEL) or os.environ.get(JUPYTER_KERNEL))


def in_an_unwatched_kernel() -> bool:
    """Whether this runs under a notebook kernel orch does not watch: nothing there keeps an
    inherited ORCH_CONFIRM from answering for a person at the notebook (safety18)."""
    return bool(os.environ.get(JUPYTER_KERNEL)) and not os.environ.get(IN_A_KERNEL)


def ask_on_terminal(question: str) -> str | None:
    """Write `question` to /dev/tty and read one line back; None when there is no terminal,
    or it is a notebook kernel's, or its child's (nobody types there)."""
    if in_a_kernel():
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
