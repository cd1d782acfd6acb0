"""Local processes under a pseudo-terminal (`tty: true`): one merged output stream."""

from __future__ import annotations

import asyncio
import errno
import os
from collections.abc import AsyncIterator

from ..process.command import Command
from ..process.handle import ProcessBackend
from .failed_start import start_error
from .local_process import READ_CHUNK, ChildProtocol, SubprocessBackend, spawn


def _resolve(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_result(None)


class PtyBackend(SubprocessBackend):
    """A child whose stdin/stdout/stderr are the slave side of a pty we hold the master of.

    Exit status and signals work as for any local child (its own process group); only the
    streams differ: one merged output, and EOF is the terminal's ^D.
    """

    def __init__(self, proc: asyncio.subprocess.Process, protocol: ChildProtocol,
                 master: int) -> None:
        super().__init__(proc, protocol)
        self._master = master

    async def resize(self, size: tuple[int, int]) -> None:
        """The kernel sends the terminal's foreground process group SIGWINCH."""
        _set_size(self._master, size)

    async def _read(self) -> AsyncIterator[bytes]:
        loop = asyncio.get_running_loop()
        while True:
            ready = loop.create_future()
            loop.add_reader(self._master, _resolve, ready)
            try:
                await ready
            finally:
                loop.remove_reader(self._master)
            try:
                chunk = os.read(self._master, READ_CHUNK)
            except OSError as exc:  # EIO: every slave fd closed, the child is gone
                if exc.errno == errno.EIO:
                    return
                raise
            if not chunk:
                return
            yield chunk

    def stdout(self) -> AsyncIterator[bytes]:
        return self._read()

    def stderr(self) -> AsyncIterator[bytes] | None:
        return None

    async def write(self, data: bytes) -> None:
        view = memoryview(data)
        loop = asyncio.get_running_loop()
        while view:
            try:
                n = os.write(self._master, view)
                view = view[n:]
            except BlockingIOError:
                ready = loop.create_future()
                loop.add_writer(self._master, _resolve, ready)
                try:
                    await ready
                finally:
                    loop.remove_writer(self._master)

    def stdin_gone(self) -> bool:
        return False  # a terminal stays open whoever reads it

    async def write_eof(self) -> None:
        await self.write(b"\x04")  # the terminal's EOF character (VEOF, ^D)

    async def close(self) -> None:
        try:
            os.close(self._master)
        except OSError:
            pass
        await super().close()


def _set_size(fd: int, size: tuple[int, int]) -> None:
    """Give the terminal on `fd` `size` (columns, rows)."""
    import fcntl
    import struct
    import termios

    columns, rows = size
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))


async def launch_pty(command: Command) -> ProcessBackend:
    """Start `command` on a new pty (its controlling terminal) and return its backend."""
    import fcntl
    import termios

    master, slave = os.openpty()
    os.set_blocking(master, False)
    if command.size is not None:  # the user's window size, as `ssh -t` passes it
        _set_size(slave, command.size)

    def _controlling_tty() -> None:
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)

    try:
        proc, protocol = await spawn(command, stdin=slave, stdout=slave, stderr=slave,
                                   preexec_fn=_controlling_tty)
    except OSError as exc:
        os.close(master)
        return start_error(exc, command)
    except BaseException:
        os.close(master)
        raise
    finally:
        os.close(slave)
    return PtyBackend(proc, protocol, master)
