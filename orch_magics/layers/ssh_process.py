"""One remote process over an SSH channel: the wrapper that starts it and its ProcessBackend.

The remote login shell parses exactly one line we send: ``exec sh -c WRAPPER sh N ARGV…`` with
ARGV quoted once by `shlex.join`. The wrapper reports its pid (which is the session's process
group, since sshd starts every session with setsid and `exec` keeps the pid), reads an N-byte
preamble from stdin (``export K='v'`` lines and a ``cd``), evaluates it, and execs ARGV. So
variables and the directory arrive without AcceptEnv and never appear on any argv; user stdin
follows the preamble on the same channel. Under a PTY the wrapper switches the terminal to raw,
no-echo mode before the preamble is sent, so it is neither echoed nor line-edited.
"""

from __future__ import annotations

import asyncio
import re
import shlex
import signal as _signal
from collections.abc import AsyncIterator, Callable
from typing import Any

import asyncssh

from ..errors import LayerError, StreamError
from ..process.command import Command
from ..process.events import Exit

#: Read size for channel streams (asyncssh returns what is buffered, up to this).
READ_CHUNK = 1 << 20
#: The line the wrapper prints first: the remote pid (== its process group id).
PID_MARK = b"\x1eorch-pid "
#: Signals OpenSSH (>= 7.9) accepts in a `signal` channel request (session.c name2sig).
OPENSSH_SIGNALS = frozenset(
    "ABRT ALRM FPE HUP ILL INT KILL PIPE QUIT SEGV TERM USR1 USR2".split())
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")

WRAPPER = """_orch_n=$1; shift
if [ "$_orch_n" -gt 0 ] && [ -t 0 ]; then _orch_tty=$(stty -g); stty raw -echo; fi
printf '\\036orch-pid %s\\n' "$$" >&2
if [ "$_orch_n" -gt 0 ]; then
  _orch_p=$(dd bs=1 count="$_orch_n" 2>/dev/null) || exit 125
  if [ -n "${_orch_tty-}" ]; then stty "$_orch_tty"; fi
  eval "$_orch_p"
fi
unset _orch_n _orch_p _orch_tty
exec "$@"
"""


def preamble(command: Command) -> bytes:
    """Shell text that sets the command's variables and directory (sent on stdin, never argv)."""
    lines = []
    for key, value in command.env.items():
        if not _NAME.match(key):
            raise LayerError(f"cannot pass variable {key!r} through ssh: not a shell name")
        lines.append(f"export {key}={shlex.quote(value)}\n")
    if command.cwd:
        q = shlex.quote(command.cwd)
        lines.append(f"cd -- {q} || {{ echo \"orch: working directory not found: \"{q} >&2;"
                     f" exit 126; }}\n")
    return "".join(lines).encode("utf-8")


def remote_line(command: Command, preamble_len: int) -> str:
    """The one line the remote login shell parses: argv is quoted exactly once, here."""
    return (f"exec sh -c {shlex.quote(WRAPPER)} sh {preamble_len} "
            f"{shlex.join(command.argv)}")


def signal_number(name: str) -> int | None:
    try:
        return int(_signal.Signals["SIG" + name])
    except KeyError:
        return None


class SSHBackend:
    """A process started by the wrapper on an SSH channel (see the module docstring)."""

    def __init__(
        self,
        process: asyncssh.SSHClientProcess[bytes],
        conn: asyncssh.SSHClientConnection,
        *,
        tty: bool,
        peer: Any,
        error: Callable[[str], LayerError],
        release: Callable[[], None],
        initial: bytes = b"",
        pid: int | None = None,
    ) -> None:
        self._proc = process
        self._conn = conn
        self._tty = tty
        self._peer = peer  # has a mutable `signal_requests`: does the server honour them?
        self._error = error
        self._release = release
        self._initial = initial
        #: The remote pid (also the remote process group id), once the wrapper reported it.
        self.pid: int | None = pid
        self._exit: Exit | None = None
        self._closed = False

    # ---- ProcessBackend ---------------------------------------------------------------------
    def stdout(self) -> AsyncIterator[bytes]:
        return self._read(self._proc.stdout, marked=self._tty, initial=self._initial)

    def stderr(self) -> AsyncIterator[bytes] | None:
        if self._tty:
            return None
        return self._read(self._proc.stderr, marked=True)

    async def write(self, data: bytes) -> None:
        try:
            self._proc.stdin.write(data)
            await self._proc.stdin.drain()
        except (asyncssh.Error, OSError) as exc:
            raise BrokenPipeError(str(exc)) from None

    async def write_eof(self) -> None:
        if self._tty:
            await self.write(b"\x04")  # the terminal's EOF character, as for a local PTY
            return
        try:
            self._proc.stdin.write_eof()
        except (asyncssh.Error, OSError):
            pass

    async def wait(self) -> Exit:
        await self._proc.wait_closed()
        sig = self._proc.exit_signal
        status = self._proc.exit_status
        if sig is not None:
            num = signal_number(sig[0])
            self._exit = Exit(signal=num) if num else Exit(code=255)
        elif status is not None and status >= 0:
            self._exit = Exit(code=status)
        elif self._conn.is_closed():
            self._exit = Exit(error=self._error("connection lost while the command ran"))
        else:
            self._exit = Exit(error=self._error("the channel closed without an exit status"))
        return self._exit

    async def signal(self, sig: int) -> None:
        """The SSH `signal` request where the server honours it, else `kill -SIG -PGID`.

        Whether the server honoured the request is asked (want-reply), not guessed; a refusal
        switches this connection to the fallback. KILL always goes both ways: the last step of
        the ladder must leave nothing behind.
        """
        if self._exit is not None or self._closed:
            return
        name = _signal.Signals(sig).name[3:]
        sent = False
        if self._peer.signal_requests and name in OPENSSH_SIGNALS:
            sent = await self._request_signal(name)
            if not sent:  # e.g. sshd refuses it for root logins (no privsep child): stop asking
                self._peer.signal_requests = False
        if not sent or sig == _signal.SIGKILL:
            await self._kill_group(sig)

    async def close(self) -> None:
        if self._closed:
            return
        try:
            if self._exit is None or self._exit.error is not None:
                await self._kill_group(_signal.SIGKILL)  # a closed channel would orphan it
            self._proc.close()
        finally:
            self._closed = True
            self._release()

    # ---- helpers ----------------------------------------------------------------------------
    async def _request_signal(self, name: str) -> bool:
        """An RFC 4254 `signal` request with want-reply, so a refusal is known, not guessed."""
        chan = self._proc.channel
        make_request = getattr(chan, "_make_request", None)
        try:
            if make_request is None:  # asyncssh without it: fire and forget
                self._proc.send_signal(name)
                return True
            from asyncssh.packet import String

            return bool(await asyncio.wait_for(make_request(b"signal", String(name)), 2))
        except (asyncio.TimeoutError, OSError, ValueError, asyncssh.Error):
            return False

    async def _kill_group(self, sig: int) -> None:
        """`kill -SIG -PGID` over a second channel of the same connection (best effort)."""
        pid = self.pid
        if pid is None or self._conn.is_closed():
            return
        line = f"kill -{int(sig)} -{pid} 2>/dev/null || kill -{int(sig)} {pid} 2>/dev/null"
        try:
            await asyncio.wait_for(self._conn.run(f"sh -c {shlex.quote(line)}", check=False), 5)
        except (asyncio.TimeoutError, OSError, asyncssh.Error):
            pass

    async def _read(self, reader: Any, *, marked: bool, initial: bytes = b"") -> AsyncIterator[bytes]:
        held = b""
        if initial:
            yield initial
        while True:
            try:
                chunk = await reader.read(READ_CHUNK)
            except asyncio.CancelledError:
                raise
            except (asyncssh.Error, OSError, EOFError) as exc:
                if held:
                    yield held
                raise self._error(f"connection lost while reading output: {exc}") from None
            if not chunk:
                if held:
                    yield held
                return
            if marked and self.pid is None:
                held += chunk
                out, held, found = take_pid(held)
                if found is not None:
                    self.pid = found
                    marked = False
                if out:
                    yield out
                continue
            yield chunk


def take_pid(buf: bytes) -> tuple[bytes, bytes, int | None]:
    """Split the wrapper's pid line out of `buf`: (output, still held, pid or None)."""
    i = buf.find(PID_MARK)
    if i < 0:
        keep = len(PID_MARK) - 1  # a marker may be cut across two chunks
        return buf[:-keep] if len(buf) > keep else b"", buf[-keep:], None
    j = buf.find(b"\n", i)
    if j < 0:
        return buf[:i], buf[i:], None
    try:
        pid = int(buf[i + len(PID_MARK):j].rstrip(b"\r"))
    except ValueError:
        pid = 0
    return buf[:i] + buf[j + 1:], b"", pid or None


async def wait_for_pid(process: asyncssh.SSHClientProcess[bytes]) -> tuple[bytes, int | None]:
    """Under a PTY: read until the wrapper's pid line (the terminal is raw and silent then)."""
    buf = b""
    while True:
        chunk = await process.stdout.read(READ_CHUNK)
        if not chunk:
            return buf, None
        buf += chunk
        i = buf.find(PID_MARK)
        if i >= 0:
            j = buf.find(b"\n", i)
            if j >= 0:
                out, _, pid = take_pid(buf)
                return out, pid


def make_stream_error(hop: int, layer: str) -> Callable[[str], LayerError]:
    return lambda message: StreamError(message, hop=hop, layer=layer)
