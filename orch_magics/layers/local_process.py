"""Local child processes: how they are started, and their ProcessBackend.

Every child runs in its own session (pgid == pid), with this process's environment minus the
secret provider's variables plus the command's. When the main process exits, whatever is left
of its process group and session is sent SIGTERM (no orphan, and a background grandchild
holding the pipes cannot keep the run open); the pipes are then read to their end, so no
output is lost. Until
then its group is listed with the `lifeline` watchdog, which stops it if this process dies.
A program that cannot be started ends like a shell's (`failed_start.py`).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import errno
import os
import resource
import shutil
import signal as _signal
import threading
from collections.abc import AsyncIterator, Callable
from typing import Any

from ..process.command import Command, at_home
from ..process.descriptors import for_children
from ..process.environ import inherited_environ
from ..process.events import Exit
from ..process.pipes import grow_pipe
from .base import creating
from .lifeline import LIFELINE

#: Read size for a pty, as asyncio's pipe transports read: 256 KiB. Larger reads cost more in
#: page faults (a fresh buffer per read) than they save in wake-ups: 1 MiB reads made a local
#: gigabyte ~0.3 s slower here.
READ_CHUNK = 256 << 10
#: Output bytes buffered for a slow reader before the child's pipe is paused.
BUFFERED = 4 << 20
#: Seconds between the TERM and the KILL of a process nobody reads any more (`_abandon`),
#: as the stop ladder's last step.
ABANDON_KILL = 2.0


class Chunks:
    """What one pipe delivered, handed out as the kernel gave it (no copy into a stream buffer).

    Past `limit` buffered bytes the pipe is paused, so a slow reader holds the child back
    instead of growing memory.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, limit: int) -> None:
        self._loop = loop
        self._limit = limit
        self._chunks: collections.deque[bytes] = collections.deque()
        self._size = 0
        self._ended = False
        self._waiter: asyncio.Future[None] | None = None
        self._pipe: asyncio.ReadTransport | None = None
        self._paused = False

    def attach(self, pipe: asyncio.ReadTransport) -> None:
        """The pipe to pause when more than `limit` bytes wait for the reader."""
        self._pipe = pipe

    def feed(self, data: bytes) -> None:
        self._chunks.append(data)
        self._size += len(data)
        if self._size > self._limit and self._pipe is not None and not self._paused:
            self._paused = True
            self._pipe.pause_reading()
        self._wake()

    def end(self) -> None:
        self._ended = True
        self._wake()

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    async def __aiter__(self) -> AsyncIterator[bytes]:
        while True:
            while not self._chunks and not self._ended:
                self._waiter = self._loop.create_future()
                await self._waiter
            if not self._chunks:
                return
            data = self._chunks.popleft()
            self._size -= len(data)
            if self._paused and self._size <= self._limit // 2 and self._pipe is not None:
                self._paused = False
                self._pipe.resume_reading()
            yield data


class ChildProtocol(asyncio.subprocess.SubprocessStreamProtocol):
    """asyncio's protocol for stdin and exit; stdout and stderr go to `Chunks`, not StreamReaders.

    `exited` is set when the child exits (its pipes may stay open).
    """

    def __init__(self, limit: int, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(limit=limit, loop=loop)
        self.exited: asyncio.Future[None] = loop.create_future()
        self.output = {1: Chunks(loop, limit), 2: Chunks(loop, limit)}

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        assert isinstance(transport, asyncio.SubprocessTransport)
        self.transport = transport
        for fd, chunks in self.output.items():
            pipe = transport.get_pipe_transport(fd)
            if isinstance(pipe, asyncio.ReadTransport):
                chunks.attach(pipe)

    def pipe_data_received(self, fd: int, data: bytes | str) -> None:
        self.output[fd].feed(data.encode() if isinstance(data, str) else data)  # always bytes here

    def pipe_connection_lost(self, fd: int, exc: Exception | None) -> None:
        if fd in self.output:
            self.output[fd].end()
        super().pipe_connection_lost(fd, exc)

    def process_exited(self) -> None:
        super().process_exited()
        if not self.exited.done():
            self.exited.set_result(None)


def utf8(text: str) -> bytes:
    """A word of a command as the child gets it: UTF-8, as every remote layer sends it and as
    output is read back, whatever this machine's locale (a Latin-1 one could not encode `☃`
    and turned `é` into a byte read back as U+FFFD); bytes that came undecodable pass as
    they came (surrogateescape). This process's own environment passes as it is."""
    return text.encode("utf-8", "surrogateescape")


def _environ(inherited: dict[str, str], command: Command) -> dict[bytes, bytes]:
    """A child's environment: this process's as it came, plus the command's in UTF-8."""
    return {**{os.fsencode(k): os.fsencode(v) for k, v in inherited.items()},
            **{utf8(k): utf8(v) for k, v in command.env.items()}}


async def spawn(command: Command, *, preexec_fn: Callable[[], Any] | None = None,
                **stdio: Any) -> tuple[asyncio.subprocess.Process, ChildProtocol]:
    """Start `command` in a new session; the process and its protocol (output, `exited`).

    A script without a `#!` line (the kernel's ENOEXEC) is run by /bin/sh, as execvp, every
    shell and the remote layers' wrapper run it. OSError is the caller's to translate
    (`start_error`)."""
    loop = asyncio.get_running_loop()
    protocol = ChildProtocol(BUFFERED, loop)
    preexec_fn = _with_default_signals(preexec_fn)

    async def started(*argv: str) -> asyncio.SubprocessTransport:
        transport, _ = await loop.subprocess_exec(
            lambda: protocol, *map(utf8, argv), env=_environ(inherited_environ(), command),
            cwd=None if command.cwd is None else utf8(_folder(command)), start_new_session=True,
            preexec_fn=preexec_fn, **stdio)
        return transport

    with creating():
        try:
            transport = await started(*command.argv)
        except OSError as exc:
            program = command.argv[0]
            path = command.env.get("PATH", os.environ.get("PATH"))
            found = program if "/" in program else shutil.which(program, path=path)
            if exc.errno != errno.ENOEXEC or found is None:
                raise
            transport = await started("/bin/sh", found, *command.argv[1:])
    for fd in (0, 1, 2):
        pipe = transport.get_pipe_transport(fd)
        end = pipe.get_extra_info("pipe") if pipe is not None else None
        if end is not None and not end.closed:  # a fast child may have closed it already
            grow_pipe(end.fileno())
    LIFELINE.watch(transport.get_pid())
    return asyncio.subprocess.Process(transport, protocol, loop), protocol



#: Signals a program may expect to end it: one ignored here would stay ignored in the child.
DEFAULTED = (_signal.SIGINT, _signal.SIGQUIT)


def _folder(command: Command) -> str:
    """Where `command` starts: `~` is the home its variables give it (as behind ssh or sudo,
    review29), else this user's."""
    assert command.cwd is not None
    if not at_home(command.cwd):
        return command.cwd
    if command.env.get("HOME") == "":  # as the remote wrapper has it (`start_error` says it)
        raise FileNotFoundError(errno.ENOENT, "HOME is empty", command.cwd)
    return (command.env.get("HOME") or os.path.expanduser("~")) + command.cwd[1:]


def _with_default_signals(preexec_fn: Callable[[], Any] | None) -> Callable[[], Any] | None:
    """`preexec_fn`, first giving the child the default action of the DEFAULTED signals this
    process ignores now: an idle ipykernel ignores SIGINT, so a named run's restart (started
    between cells) ignored the INT of Stop and died of the TERM after it (magics3), as could
    a post command run after the CLI's first Ctrl-C; and the open-file limit this process had
    before a forward raised it. Nothing is added when neither applies: the child then starts
    the fast way (no Python code between fork and exec)."""
    ignored = [s for s in DEFAULTED if _signal.getsignal(s) is _signal.SIG_IGN]
    limits = for_children()
    if not ignored and limits is None:
        return preexec_fn

    def defaulted() -> None:
        for sig in ignored:
            _signal.signal(sig, _signal.SIG_DFL)
        if limits is not None:
            resource.setrlimit(resource.RLIMIT_NOFILE, limits)
        if preexec_fn is not None:
            preexec_fn()

    return defaulted


def kill_group(pid: int, sig: int, *, session: bool = False) -> None:
    """Signal process group `pid` (best effort: it may be gone); with `session`, every other
    process of session `pid` too (`session_sweep.session_line`: a stop must reach GNU `timeout` and
    what else made a group of its own)."""
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass
    if session:
        signal_session(pid, sig)


def signal_session(sid: int, sig: int) -> None:
    """Signal the processes of session `sid` outside process group `sid` (best effort)."""
    for other in _session_others(sid):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(other, sig)


def _session_others(sid: int) -> list[int]:
    """Processes of session `sid` outside process group `sid` (from /proc; none without it)."""
    found = []
    try:
        names = os.listdir("/proc")
    except OSError:
        return []
    for name in names:
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as f:
                fields = f.read().rpartition(b")")[2].split()  # state ppid pgrp session …
        except OSError:
            continue
        if len(fields) > 3 and int(fields[3]) == sid and int(fields[2]) != sid:
            found.append(int(name))
    return found


def _abandon(pid: int) -> None:
    """End process group `pid`, still running, that nobody reads any more: TERM now and KILL
    (group and session) ABANDON_KILL s later, from a thread (the loop may be ending); the
    lifeline keeps it until then, in case this process dies first."""
    kill_group(pid, _signal.SIGTERM, session=True)

    def kill() -> None:
        kill_group(pid, _signal.SIGKILL, session=True)
        LIFELINE.forget(pid)

    timer = threading.Timer(ABANDON_KILL, kill)
    timer.daemon = True
    timer.start()


class SubprocessBackend:
    """A local child process started by `spawn` (pgid == pid)."""

    def __init__(self, proc: asyncio.subprocess.Process, protocol: ChildProtocol) -> None:
        self._proc = proc
        self._transport = protocol.transport
        self._exited = protocol.exited
        self._output = protocol.output
        self.pid: int | None = proc.pid

    def stdout(self) -> AsyncIterator[bytes]:
        return aiter(self._output[1])

    def stderr(self) -> AsyncIterator[bytes] | None:
        return aiter(self._output[2])

    async def write(self, data: bytes) -> None:
        assert self._proc.stdin is not None
        self._proc.stdin.write(data)
        await self._proc.stdin.drain()

    def stdin_gone(self) -> bool:
        """The pipe's transport closes itself when the child closes its end (asyncio watches
        a pipe's write end for that), before any write fails."""
        return self._proc.stdin is not None and self._proc.stdin.is_closing()

    async def write_eof(self) -> None:
        assert self._proc.stdin is not None
        if not self._proc.stdin.is_closing():
            self._proc.stdin.close()
            try:  # shielded: cancelling asyncio's own close future made it log InvalidStateError
                await asyncio.shield(self._proc.stdin.wait_closed())
            except (BrokenPipeError, ConnectionResetError):
                pass

    async def wait(self) -> Exit:
        await asyncio.shield(self._exited)
        # what the main process left in its group and session (GNU `timeout` makes a group
        # of its own: chains26), as the remote wrapper does
        kill_group(self._proc.pid, _signal.SIGTERM, session=True)
        rc = await self._proc.wait()
        LIFELINE.forget(self._proc.pid)
        return Exit(signal=-rc) if rc < 0 else Exit(code=rc)

    async def signal(self, sig: int) -> None:
        """Signal the whole process group and session, so children stop too."""
        signal_session(self._proc.pid, sig)
        try:
            os.killpg(self._proc.pid, sig)
        except ProcessLookupError:
            pass
        except PermissionError:
            try:
                self._proc.send_signal(sig)
            except ProcessLookupError:
                pass

    async def close(self) -> None:
        if self._proc.stdin is not None and not self._proc.stdin.is_closing():
            self._proc.stdin.close()
        if self._proc.returncode is None:  # abandoned: its reader was cancelled (safety22:
            _abandon(self._proc.pid)  # the loop of an `await launch()` ended, it ran on)
            return
        if self._proc.returncode < 0:
            # Stopped: make sure nothing of its group or session outlives it.
            kill_group(self._proc.pid, _signal.SIGKILL, session=True)
        LIFELINE.forget(self._proc.pid)
        # Output a child outside the group still holds is no longer read (ProcessHandle cut
        # it): its pipes are closed now, not by the garbage collector after the loop is gone.
        self._transport.close()

    async def cut_if_silent(self) -> bool:
        return False  # a signal of this machine's is delivered at once
