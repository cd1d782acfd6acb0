"""A local program that could not start, ended as a shell would end it: status 127 for a
program not found, 126 for one it cannot run or a working directory it cannot enter, with one
line on stderr saying why (the remote wrapper's words: a run ends alike in every layer)."""

from __future__ import annotations

import errno
import os
import pwd
from collections.abc import AsyncIterator

from ..errors import LayerError
from ..process.command import Command, at_home, escaped
from ..process.events import Exit
from ..text import printable
from .local_process import utf8


def start_error(exc: OSError, command: Command) -> FailedStart:
    """Why `command` could not start: a shell-like failed run, or a LayerError (raised).

    A working directory it cannot enter is status 126 with the remote wrapper's words, so a
    run ends the same way in every layer (`remote.preamble`)."""
    if command.cwd and (problem := _cwd_problem(command.cwd, command.env.get("HOME"))):
        return FailedStart(126, f"orch: {problem}\n", tty=command.tty)
    program = printable(escaped(command.argv[0]))
    if isinstance(exc, FileNotFoundError) or not program:  # `''`: no program, as a shell says
        return FailedStart(127, f"orch: {program}: command not found\n", tty=command.tty)
    if isinstance(exc, PermissionError) or exc.errno == errno.ENOEXEC:
        reason = "permission denied" if isinstance(exc, PermissionError) else "not executable"
        return FailedStart(126, f"orch: {program}: {reason}\n", tty=command.tty)
    if exc.errno == errno.E2BIG:
        raise LayerError(f"the command is too long for this system ({_too_long(command)}): "
                         f"pass large data on stdin or in a file", layer="local") from None
    raise LayerError(f"cannot start {program}: {exc.strerror or exc}", layer="local") from None


def _cwd_problem(cwd: str, home: str | None) -> str | None:
    """Why a command cannot start in `cwd` (missing, not a directory, closed; `~` with its
    variables' `home` empty), or None (its control characters escaped: the line goes to the
    run's stderr, a terminal)."""
    shown = printable(escaped(cwd))
    if at_home(cwd) and home == "":
        return f"cannot enter working directory {shown}: HOME is empty or not set"
    place = cwd
    if at_home(cwd):  # the folder looked in, said (chains23: "not found: ~", whose home?)
        place = (home or os.path.expanduser("~")) + cwd[1:]
        shown += f" ({printable(escaped(place))})"
    if os.path.isdir(utf8(place)):
        if os.access(utf8(place), os.X_OK):
            return None
        return f"cannot enter working directory {shown} as {_user()}: permission denied"
    return f"not a directory: {shown}" if os.path.exists(utf8(place)) else \
        f"working directory not found: {shown}"


def _user() -> str:
    """This process's user name (its uid when it has none), as `id -un || id -u` says it."""
    try:
        return pwd.getpwuid(os.getuid()).pw_name
    except KeyError:
        return str(os.getuid())


def _too_long(command: Command) -> str:
    """Which limit of execve a command passed: Linux takes at most 32 pages in one argument or
    variable, and about SC_ARG_MAX bytes in all."""
    words = [*command.argv, *(f"{k}={v}" for k, v in command.env.items())]
    sizes = [len(w.encode("utf-8", "surrogateescape")) + 1 for w in words]
    one = 32 * os.sysconf("SC_PAGE_SIZE")
    if max(sizes, default=0) > one:
        return f"one argument or variable is {max(sizes) - 1:,} bytes; at most {one - 1:,} fit"
    return (f"{sum(sizes):,} bytes of arguments and variables; the limit is about "
            f"{os.sysconf('SC_ARG_MAX'):,}")


class FailedStart:
    """The run of a program that could not start: one stderr line and a shell's status."""

    pid: int | None = None

    def __init__(self, code: int, message: str, *, tty: bool = False) -> None:
        self._code = code
        self._message = message.encode("utf-8", "replace")
        self._tty = tty  # under a terminal there is one stream: the line goes to stdout

    async def _nothing(self) -> AsyncIterator[bytes]:
        return
        yield b""  # pragma: no cover (makes this an async generator)

    async def _message_only(self) -> AsyncIterator[bytes]:
        yield self._message

    def stdout(self) -> AsyncIterator[bytes]:
        return self._message_only() if self._tty else self._nothing()

    def stderr(self) -> AsyncIterator[bytes] | None:
        return None if self._tty else self._message_only()

    async def write(self, data: bytes) -> None:
        raise BrokenPipeError("the program did not start")

    async def write_eof(self) -> None:
        return None

    def stdin_gone(self) -> bool:
        return False  # its write says why

    async def wait(self) -> Exit:
        return Exit(code=self._code)

    async def signal(self, sig: int) -> None:
        return None

    async def close(self) -> None:
        return None

    async def cut_if_silent(self) -> bool:
        return False
