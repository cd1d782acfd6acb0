"""The execve limits of a far host, checked before a remote command is sent."""

from __future__ import annotations

from ..process.command import Command

#: Longest string a Linux host's execve takes (32 pages of 4 KiB, less the NUL): over ssh the
#: command line is one argument of the login shell; each variable is one string of the
#: command's environment. (OpenSSH also drops a connection whose packets exceed 256 KiB.)
MAX_STRING = 131_071
#: Bytes of arguments and variables together a Linux host with the default 8 MiB stack takes
#: (a quarter of it).
MAX_ARGS = 2_097_152


def too_long(command: Command, line: str | None = None) -> str | None:
    """Which execve limit of the far host `command` would pass, checked before anything is
    sent (else the wrapper's `exec`, or the login shell running `line`, fails with "Argument
    list too long"; an engine refused 4 MiB of variables in its own words)."""
    words = [*command.argv, *(f"{k}={v}" for k, v in command.env.items())]
    sizes = [len(w.encode("utf-8", "surrogateescape")) for w in words]
    if max(sizes, default=0) > MAX_STRING:
        return f"one argument or variable is {max(sizes):,} bytes; at most {MAX_STRING:,} fit"
    if (total := sum(sizes) + len(sizes)) > MAX_ARGS:
        return (f"{total:,} bytes of arguments and variables; the limit is about "
                f"{MAX_ARGS:,}")
    size = 0 if line is None else len(line.encode("utf-8", "surrogateescape"))
    if size > MAX_STRING:
        return (f"its command line is {size:,} bytes; the remote login shell takes at most "
                f"{MAX_STRING:,}")
    return None
